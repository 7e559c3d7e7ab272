package lab

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// serviceAccountIssuer is the issuer of the lab's ServiceAccount tokens.
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// startKube starts etcd, kube-apiserver and (unless disabled)
// kube-controller-manager, and writes the admin kubeconfig.
func (l *Lab) startKube(ctx context.Context) error {
	pki := filepath.Join(l.Dir, "pki")
	saKey, saPub := filepath.Join(pki, "sa.key"), filepath.Join(pki, "sa.pub")
	if err := writeServiceAccountKey(saKey, saPub); err != nil {
		return err
	}
	token := randomHex(16)
	l.set(func() { l.adminToken = token })
	tokens := filepath.Join(pki, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(token+`,admin,admin,"system:masters"`+"\n"), 0o600); err != nil {
		return fmt.Errorf("token file: %w", err)
	}

	var etcdURL string
	if _, err := l.launch(ctx, func() (*process, func(context.Context) error) {
		client, peer := freePort(), freePort()
		etcdURL = "http://127.0.0.1:" + strconv.Itoa(client)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
		return &process{
				Name: ComponentEtcd,
				Path: l.Tools.Etcd,
				Args: []string{
					"--name=default",
					"--data-dir=" + filepath.Join(l.Dir, "etcd"),
					"--listen-client-urls=" + etcdURL,
					"--advertise-client-urls=" + etcdURL,
					"--listen-peer-urls=" + peerURL,
					"--initial-advertise-peer-urls=" + peerURL,
					"--initial-cluster=default=" + peerURL,
					"--unsafe-no-fsync", // a throwaway store; fsync only slows tests down
					"--log-level=warn",
				},
				Env: baseEnv(),
				Log: l.LogFile(ComponentEtcd),
			}, func(ctx context.Context) error {
				return probe(ctx, etcdURL+"/health", "")
			}
	}); err != nil {
		return err
	}

	certDir := filepath.Join(pki, "apiserver")
	if _, err := l.launch(ctx, func() (*process, func(context.Context) error) {
		port := freePort()
		server := "https://127.0.0.1:" + strconv.Itoa(port)
		l.set(func() { l.Server = server })
		return &process{
				Name: ComponentAPIServer,
				Path: l.Tools.KubeAPIServer,
				Args: []string{
					"--etcd-servers=" + etcdURL,
					"--bind-address=127.0.0.1",
					"--advertise-address=127.0.0.1",
					"--secure-port=" + strconv.Itoa(port),
					"--cert-dir=" + certDir,
					"--service-account-issuer=" + serviceAccountIssuer,
					"--service-account-key-file=" + saPub,
					"--service-account-signing-key-file=" + saKey,
					"--token-auth-file=" + tokens,
					"--authorization-mode=RBAC",
					"--service-cluster-ip-range=10.0.0.0/24",
					"--disable-admission-plugins=ServiceAccount",
					"--allow-privileged=true",
					"--profiling=false",
				},
				Env: baseEnv(),
				Log: l.LogFile(ComponentAPIServer),
			}, func(ctx context.Context) error {
				return probe(ctx, server+"/readyz", token)
			}
	}); err != nil {
		return err
	}
	ca, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		return fmt.Errorf("API server certificate: %w", err)
	}
	kubeconfig := filepath.Join(l.Dir, "kubeconfigs", "admin.kubeconfig")
	if err := writeKubeconfig(kubeconfig, l.Server, ca, "admin", token); err != nil {
		return err
	}
	l.set(func() { l.caData, l.Kubeconfig = ca, kubeconfig })

	if l.opts.NoControllerManager {
		return nil
	}
	_, err = l.launch(ctx, func() (*process, func(context.Context) error) {
		port := freePort()
		healthz := "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
		return &process{
				Name: ComponentControllerManager,
				Path: l.Tools.KubeControllerManager,
				Args: []string{
					"--kubeconfig=" + kubeconfig,
					"--authentication-kubeconfig=" + kubeconfig,
					"--authorization-kubeconfig=" + kubeconfig,
					"--bind-address=127.0.0.1",
					"--secure-port=" + strconv.Itoa(port),
					"--leader-elect=false",
					"--service-account-private-key-file=" + saKey,
					"--root-ca-file=" + filepath.Join(certDir, "apiserver.crt"),
					"--controllers=*,-nodeipam,-nodelifecycle,-route,-cloud-node-lifecycle,-service-lb-controller",
					"--profiling=false",
				},
				Env: baseEnv(),
				Log: l.LogFile(ComponentControllerManager),
			}, func(ctx context.Context) error {
				return probe(ctx, healthz, "")
			}
	})
	return err
}

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL) and waits until
// it is gone; etcd and the controller manager keep running.
func (l *Lab) StopAPIServer() error { return l.stopComponent(ComponentAPIServer) }

// StartAPIServer starts a stopped kube-apiserver again on the same port, with
// the same certificates and etcd, and waits until it is ready.
func (l *Lab) StartAPIServer(ctx context.Context) error {
	return l.restart(ctx, ComponentAPIServer, func(ctx context.Context) error {
		return probe(ctx, l.Server+"/readyz", l.adminToken)
	})
}

// ServiceAccountKubeconfig mints a token for the ServiceAccount namespace/name
// (TokenRequest, valid 24 hours) and writes a kubeconfig that authenticates
// with it, so a test can run a component with exactly the RBAC it grants.
// It returns the kubeconfig's path.
func (l *Lab) ServiceAccountKubeconfig(ctx context.Context, namespace, name string) (string, error) {
	expiry := int64(24 * 60 * 60)
	tr, err := l.Kube().CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for service account %s/%s: %w", namespace, name, err)
	}
	path := filepath.Join(l.Dir, "kubeconfigs", "sa-"+namespace+"-"+name+".kubeconfig")
	user := "system:serviceaccount:" + namespace + ":" + name
	if err := writeKubeconfig(path, l.Server, l.caData, user, tr.Status.Token); err != nil {
		return "", err
	}
	return path, nil
}

// writeKubeconfig writes a kubeconfig with one cluster, user and context.
func writeKubeconfig(path, server string, ca []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: user}
	cfg.CurrentContext = "lab"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// writeServiceAccountKey writes a fresh RSA key pair that signs (apiserver,
// controller manager) and verifies (apiserver) ServiceAccount tokens.
func writeServiceAccountKey(keyPath, pubPath string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	return nil
}
