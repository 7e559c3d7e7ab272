package lab_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/driftgate/driftgate/test/lab"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestLab starts one full lab and checks each part of it, then that Stop
// leaves no process behind.
func TestLab(t *testing.T) {
	l := lab.Start(t)
	ctx := testContext(t)

	t.Run("admin client creates and reads a namespace", func(t *testing.T) {
		_, err := l.Kube().CoreV1().Namespaces().Create(ctx,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lab-check"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns, err := l.Kube().CoreV1().Namespaces().Get(ctx, "lab-check", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ns.Status.Phase != corev1.NamespaceActive {
			t.Errorf("namespace phase %q, want Active", ns.Status.Phase)
		}
		v, err := l.Kube().Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v.GitVersion != "v"+lab.KubeVersion {
			t.Errorf("server version %s, want v%s", v.GitVersion, lab.KubeVersion)
		}
	})

	t.Run("admin kubeconfig works like kubectl's", func(t *testing.T) {
		cfg, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		c := kubernetes.NewForConfigOrDie(cfg)
		if _, err := c.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("service account kubeconfig has only what RBAC grants", func(t *testing.T) {
		kube := l.Kube()
		const ns = "lab-check"
		if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		path, err := l.ServiceAccountKubeconfig(ctx, ns, "reader")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		sa := kubernetes.NewForConfigOrDie(cfg)
		if _, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("list configmaps without a role: err %v, want Forbidden", err)
		}
		if _, err := kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "read-configmaps"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "reader"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read-configmaps"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// RBAC changes reach the authorizer through its informer: poll.
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
			return err == nil, nil
		}); err != nil {
			t.Fatalf("list configmaps with the role: still denied: %v", err)
		}
		if _, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list secrets: err %v, want Forbidden", err)
		}
	})

	t.Run("controller manager creates ReplicaSets", func(t *testing.T) {
		labels := map[string]string{"app": "web"}
		if _, err := l.Kube().AppsV1().Deployments("lab-check").Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
				},
			},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			rs, err := l.Kube().AppsV1().ReplicaSets("lab-check").List(ctx, metav1.ListOptions{})
			return err == nil && len(rs.Items) == 1, nil
		}); err != nil {
			t.Fatalf("no ReplicaSet for the Deployment: %v", err)
		}
	})

	t.Run("state bucket keeps every version", func(t *testing.T) {
		c := l.S3.Client()
		for _, body := range []string{"one", "two"} {
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(l.S3.Bucket), Key: aws.String("check/terraform.tfstate"), Body: strings.NewReader(body),
			}); err != nil {
				t.Fatal(err)
			}
		}
		vs, err := l.StateVersions(ctx, "check/terraform.tfstate")
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 {
			t.Fatalf("%d versions, want 2", len(vs))
		}
	})

	t.Run("API server stops and starts again on the same port", func(t *testing.T) {
		server := l.Server
		if err := l.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Kube().CoreV1().Namespaces().Get(ctx, "lab-check", metav1.GetOptions{}); err == nil {
			t.Fatal("API server answers after StopAPIServer")
		}
		if err := l.StartAPIServer(ctx); err != nil {
			t.Fatal(err)
		}
		if l.Server != server {
			t.Errorf("server moved from %s to %s", server, l.Server)
		}
		if _, err := l.Kube().CoreV1().Namespaces().Get(ctx, "lab-check", metav1.GetOptions{}); err != nil {
			t.Fatalf("after restart: %v", err)
		}
	})

	t.Run("S3 stops and starts again with its data", func(t *testing.T) {
		if err := l.StopS3(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.StateVersions(ctx, "check/terraform.tfstate"); err == nil {
			t.Fatal("S3 answers after StopS3")
		}
		if err := l.StartS3(ctx); err != nil {
			t.Fatal(err)
		}
		vs, err := l.StateVersions(ctx, "check/terraform.tfstate")
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 {
			t.Fatalf("%d versions after restart, want 2", len(vs))
		}
	})

	t.Run("Env names everything a tofu run needs", func(t *testing.T) {
		env := map[string]string{}
		for _, kv := range l.Env() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		for _, k := range []string{"KUBECONFIG", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
			"AWS_ENDPOINT_URL_S3", "TF_CLI_CONFIG_FILE", "PATH"} {
			if env[k] == "" {
				t.Errorf("Env has no %s", k)
			}
		}
		if !strings.HasPrefix(env["PATH"], filepath.Dir(l.Tools.Tofu)+":"+filepath.Dir(l.Tools.Terraform)+":") {
			t.Errorf("PATH %q does not start with the tofu and terraform directories", env["PATH"])
		}
	})

	t.Run("Stop leaves no process behind", func(t *testing.T) {
		pids := l.PIDs()
		for _, c := range []string{lab.ComponentEtcd, lab.ComponentAPIServer, lab.ComponentControllerManager, lab.ComponentS3} {
			if pids[c] == 0 {
				t.Errorf("%s is not running before Stop", c)
			}
		}
		if err := l.Stop(); err != nil {
			t.Fatal(err)
		}
		for name, pid := range pids {
			if !lab.ProcessGone(pid) {
				t.Errorf("%s (pid %d) still running after Stop", name, pid)
			}
		}
		if left := l.PIDs(); len(left) > 0 {
			t.Errorf("PIDs after Stop: %v", left)
		}
	})
}

// TestTwoLabsSideBySide starts two labs at once and checks they are apart.
func TestTwoLabsSideBySide(t *testing.T) {
	ctx := testContext(t)
	labs := make([]*lab.Lab, 2)
	errs := make([]error, 2)
	done := make(chan int)
	for i := range labs {
		go func() {
			labs[i], errs[i] = lab.New(ctx, t.TempDir(), lab.WithoutControllerManager())
			done <- i
		}()
	}
	for range labs {
		<-done
	}
	for i, l := range labs {
		if l != nil {
			t.Cleanup(func() { _ = l.Stop() })
		}
		if errs[i] != nil {
			t.Fatalf("lab %d: %v", i, errs[i])
		}
	}
	a, b := labs[0], labs[1]
	if a.Server == b.Server || a.S3.Endpoint == b.S3.Endpoint || a.Dir == b.Dir {
		t.Fatalf("labs share an address or dir: %s %s, %s %s", a.Server, b.Server, a.S3.Endpoint, b.S3.Endpoint)
	}
	if _, err := a.Kube().CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "only-in-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Kube().CoreV1().Namespaces().Get(ctx, "only-in-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lab b sees lab a's namespace: err %v", err)
	}
	var pids []int
	for _, l := range labs {
		for _, pid := range l.PIDs() {
			pids = append(pids, pid)
		}
	}
	for _, l := range labs {
		if err := l.Stop(); err != nil {
			t.Error(err)
		}
	}
	for _, pid := range pids {
		if !lab.ProcessGone(pid) {
			t.Errorf("pid %d still running after Stop", pid)
		}
	}
}

// TestUpAttachDown checks the detached mode behind make lab-up / lab-down.
func TestUpAttachDown(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	l, err := lab.Up(ctx, dir, lab.WithoutControllerManager())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Down(dir) })
	if _, err := lab.Up(ctx, dir); err == nil {
		t.Error("a second Up in the same dir succeeded")
	}

	env, err := os.ReadFile(filepath.Join(dir, lab.EnvFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"export KUBECONFIG=", "export AWS_ACCESS_KEY_ID=", "export AWS_ENDPOINT_URL_S3=",
		"export TF_CLI_CONFIG_FILE=", "export PATH="} {
		if !strings.Contains(string(env), want) {
			t.Errorf("env file lacks %q:\n%s", want, env)
		}
	}
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		b, err := os.ReadFile(l.BackendFile(bin))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), l.S3.Endpoint) {
			t.Errorf("%s backend file does not name the endpoint:\n%s", bin, b)
		}
	}

	attached, err := lab.Attach(dir)
	if err != nil {
		t.Fatal(err)
	}
	pids := attached.PIDs()
	if len(pids) != 3 {
		t.Fatalf("attached lab runs %v, want etcd, kube-apiserver and minio", pids)
	}
	if _, err := attached.Kube().CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("attached lab's client: %v", err)
	}
	if err := lab.Down(dir); err != nil {
		t.Fatal(err)
	}
	for name, pid := range pids {
		if !lab.ProcessGone(pid) {
			t.Errorf("%s (pid %d) still running after Down", name, pid)
		}
	}
	if err := lab.Down(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("second Down: err %v, want ErrNotExist", err)
	}
}

func TestMissingToolsSayRunMakeTools(t *testing.T) {
	_, err := lab.New(context.Background(), t.TempDir(), lab.WithTools(lab.ToolsIn(t.TempDir())))
	if !errors.Is(err, lab.ErrToolsMissing) || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("err %v, want ErrToolsMissing saying to run make tools", err)
	}
}

// TestToolsArePresent fails (rather than skips) when make tools has not run,
// so a test run without tools says so once and clearly.
func TestToolsArePresent(t *testing.T) {
	tools, err := lab.FindTools()
	if err != nil {
		t.Fatal(err)
	}
	if err := tools.Check(tools.Etcd, tools.KubeAPIServer, tools.KubeControllerManager, tools.MinIO,
		tools.NATSServer, tools.NATSCLI, tools.Tofu, tools.Terraform, tools.CLIConfigFile); err != nil {
		t.Fatal(err)
	}
}

func TestToolVersionsMatchToolsScript(t *testing.T) {
	f, err := os.Open("../../hack/tools.sh")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^([A-Z_]+)_VERSION=(\S+)$`)
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			got[m[1]] = m[2]
		}
	}
	want := map[string]string{
		"ETCD": lab.EtcdVersion, "KUBE": lab.KubeVersion, "TOFU": lab.TofuVersion, "TERRAFORM": lab.TerraformVersion,
		"MINIO": lab.MinIOVersion, "NATS": lab.NATSVersion, "NATSCLI": lab.NATSCLIVersion, "PROVIDER_KUBERNETES": lab.ProviderKubernetesVersion,
		"PROVIDER_KUBECTL": lab.ProviderKubectlVersion, "PROVIDER_LOCAL": lab.ProviderLocalVersion,
		"PROVIDER_HELM": lab.ProviderHelmVersion,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("hack/tools.sh %s_VERSION=%s, test/lab has %s", k, got[k], v)
		}
	}
}

func TestS3OnlyLab(t *testing.T) {
	l := lab.Start(t, lab.WithoutKubernetes())
	ctx := testContext(t)
	out, err := l.S3.Client().GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(l.S3.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != "Enabled" {
		t.Errorf("bucket versioning %q, want Enabled", out.Status)
	}
	if l.Kubeconfig != "" || l.PIDs()[lab.ComponentAPIServer] != 0 {
		t.Error("a lab without Kubernetes runs an API server")
	}
}
