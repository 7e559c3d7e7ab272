// Package lab starts driftgate's local lab: real etcd, kube-apiserver and
// kube-controller-manager, a MinIO S3 server with a versioned state bucket,
// and OpenTofu and Terraform wired to a filesystem provider mirror, all on
// loopback with free ports and a private directory, so that several labs run
// side by side.
//
// Tests call Start, which registers the lab's shutdown with t.Cleanup and
// attaches the component logs to the test output when the test fails:
//
//	l := lab.Start(t)
//	ns, err := l.Kube().CoreV1().Namespaces().Create(ctx, ...)
//	w := l.NewWorkspace(t, "../../examples/marketplace", lab.Tofu, "marketplace/terraform.tfstate")
//
// The lab command (make lab-up, make lab-down, make demo) calls Up and Down,
// which start the same processes detached from the caller and record them in
// a state file, so a later Down stops exactly those processes.
//
// The binaries come from the tools cache that hack/tools.sh (make tools)
// fills; a missing binary is an error that says to run make tools.
package lab
