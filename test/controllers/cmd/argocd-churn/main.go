// Command argocd-churn runs the test stand-in for Argo CD as a churn source
// against a cluster (the lab: source .lab/env first): it re-adds
// argocd.argoproj.io/instance=INSTANCE to the objects it tracks whenever the
// label is removed.
//
//	go run ./test/controllers/cmd/argocd-churn --instance shop --namespace shop \
//	    --resources apps/v1/deployments,v1/services [--names marketplace]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/driftgate/driftgate/test/controllers/churn"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	namespace := flag.String("namespace", "", "namespace to watch (default: all)")
	instance := flag.String("instance", "", "the label's value: the Argo CD Application's name (required)")
	resources := flag.String("resources", "apps/v1/deployments", "comma-separated GROUP/VERSION/RESOURCE or VERSION/RESOURCE")
	names := flag.String("names", "", "comma-separated object names to track (default: all)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*kubeconfig, *namespace, *instance, *resources, *names, log); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-churn:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, namespace, instance, resources, names string, log *slog.Logger) error {
	if instance == "" {
		return fmt.Errorf("--instance is required")
	}
	gvrs, err := parseResources(resources)
	if err != nil {
		return err
	}
	opts := []churn.Option{churn.WithNamespace(namespace), churn.WithLogger(log)}
	if names != "" {
		opts = append(opts, churn.WithNames(strings.Split(names, ",")...))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return churn.New(client, instance, gvrs, opts...).Run(ctx)
}

func parseResources(s string) ([]schema.GroupVersionResource, error) {
	var out []schema.GroupVersionResource
	for _, r := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(r), "/")
		switch len(parts) {
		case 2:
			out = append(out, schema.GroupVersionResource{Version: parts[0], Resource: parts[1]})
		case 3:
			out = append(out, schema.GroupVersionResource{Group: parts[0], Version: parts[1], Resource: parts[2]})
		default:
			return nil, fmt.Errorf("--resources: %q is not GROUP/VERSION/RESOURCE or VERSION/RESOURCE", r)
		}
	}
	return out, nil
}
