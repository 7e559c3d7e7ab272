// Command lab starts and stops driftgate's local lab outside of tests:
//
//	lab up   [--dir .lab] [--no-controller-manager] [--no-s3]   start it in the background, write DIR/env
//	lab down [--dir .lab]                                        stop exactly what up started
//	lab status [--dir .lab]                                      what is running
//	lab stop|start apiserver|s3 [--dir .lab]                     fault injection: stop or restart one component
//
// make lab-up, make lab-down and make demo run it through hack/lab-up.sh,
// hack/lab-down.sh and hack/demo.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/driftgate/driftgate/test/lab"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}

const usage = "usage: lab up|down|status|stop COMPONENT|start COMPONENT [--dir DIR] (COMPONENT: apiserver, s3)"

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	var component string
	if cmd == "stop" || cmd == "start" {
		if len(args) == 0 {
			return errors.New(usage)
		}
		component, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("lab "+cmd, flag.ContinueOnError)
	dir := fs.String("dir", ".lab", "lab directory (state, env file, data, logs)")
	noCM := fs.Bool("no-controller-manager", false, "up: start no kube-controller-manager")
	noS3 := fs.Bool("no-s3", false, "up: start no S3 server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "up":
		var opts []lab.Option
		if *noCM {
			opts = append(opts, lab.WithoutControllerManager())
		}
		if *noS3 {
			opts = append(opts, lab.WithoutS3())
		}
		start := time.Now()
		l, err := lab.Up(ctx, *dir, opts...)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "lab up in %s (%s)\n", time.Since(start).Round(10*time.Millisecond), l.Dir)
		printStatus(out, l)
		fmt.Fprintf(out, "source %s to use it; `make lab-down` stops it\n", filepath.Join(l.Dir, lab.EnvFile))
		return nil
	case "down":
		err := lab.Down(*dir)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(out, "no lab running in %s\n", *dir)
			return nil
		}
		if err == nil {
			fmt.Fprintf(out, "lab in %s stopped\n", *dir)
		}
		return err
	case "status":
		l, err := lab.Attach(*dir)
		if err != nil {
			return err
		}
		printStatus(out, l)
		return nil
	case "stop", "start":
		l, err := lab.Attach(*dir)
		if err != nil {
			return err
		}
		switch {
		case cmd == "stop" && component == "apiserver":
			err = l.StopAPIServer()
		case cmd == "start" && component == "apiserver":
			err = l.StartAPIServer(ctx)
		case cmd == "stop" && component == "s3":
			err = l.StopS3()
		case cmd == "start" && component == "s3":
			err = l.StartS3(ctx)
		default:
			return fmt.Errorf("unknown component %q: %s", component, usage)
		}
		if err == nil {
			fmt.Fprintf(out, "%s: %sed\n", component, map[string]string{"stop": "stopp", "start": "start"}[cmd])
		}
		return err
	default:
		return fmt.Errorf("unknown command %q: %s", cmd, usage)
	}
}

func printStatus(out io.Writer, l *lab.Lab) {
	pids := l.PIDs()
	for _, name := range l.Components() {
		state := "stopped"
		if pid, ok := pids[name]; ok {
			state = fmt.Sprintf("running, pid %d", pid)
		}
		fmt.Fprintf(out, "  %-24s %-20s log %s\n", name, state, l.LogFile(name))
	}
	if l.Server != "" {
		fmt.Fprintf(out, "  kube-apiserver  %s  (admin kubeconfig %s)\n", l.Server, l.Kubeconfig)
	}
	if l.S3.Endpoint != "" {
		fmt.Fprintf(out, "  S3              %s  bucket %s (versioned)\n", l.S3.Endpoint, l.S3.Bucket)
	}
}
