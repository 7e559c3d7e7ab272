// Command cnpg-operator runs the test stand-in for the CloudNativePG operator
// against a cluster (the lab: source .lab/env first): it installs the real
// CloudNativePG Cluster and ScheduledBackup CRDs (and Argo CD's Application), then defaults their spec and writes their status.
//
//	go run ./test/controllers/cmd/cnpg-operator [--namespace NS] [--kubeconfig FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/driftgate/driftgate/test/controllers/operator"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	namespace := flag.String("namespace", "", "namespace to watch (default: all)")
	installCRDs := flag.Bool("install-crds", true, "install the CRDs first")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*kubeconfig, *namespace, *installCRDs, log); err != nil {
		fmt.Fprintln(os.Stderr, "cnpg-operator:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, namespace string, installCRDs bool, log *slog.Logger) error {
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
	if installCRDs {
		if err := operator.InstallCRDs(ctx, client); err != nil {
			return err
		}
		log.Info("CRDs installed")
	}
	return operator.New(client, operator.WithNamespace(namespace), operator.WithLogger(log)).Run(ctx)
}
