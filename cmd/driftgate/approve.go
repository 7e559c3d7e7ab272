package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/driftgate/driftgate/services/importer"
)

func init() {
	register("approve", "approve an import request (ID: ir-… or its finding f-…), signed with the approver token", func(args []string, stdout, stderr io.Writer) int {
		return runDecide(importer.VerbApprove, args, stdout, stderr)
	})
	register("reject", "reject an import request with a reason, signed with the approver token", func(args []string, stdout, stderr io.Writer) int {
		return runDecide(importer.VerbReject, args, stdout, stderr)
	})
}

// envApprover names who decides when --by is not given.
const envApprover = "DRIFTGATE_APPROVER"

func runDecide(verb string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftgate "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	reason := fs.String("reason", "", "why (required to reject)")
	by := fs.String("by", "", "who decides (default $"+envApprover+", then user@host)")
	tokenEnv := fs.String("token-env", importer.DefaultApproverEnv, "environment variable holding the approver token (the importer's importer.approver_token_env)")
	natsURL := fs.String("nats-url", "", "NATS server (default $DRIFTGATE_NATS_URL, then nats://127.0.0.1:4222)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the importer's answer")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: driftgate %s ID [--reason TEXT] [--by NAME]\n", verb)
		fs.PrintDefaults()
	}
	flags, pos := splitArgs(args)
	if code, ok := parseFlags(fs, flags); !ok {
		return code
	}
	fail := failer(stderr, verb)
	if len(pos) != 1 {
		return fail(fmt.Errorf("expected one request id (ir-… or f-…), got %d arguments", len(pos)))
	}
	d := importer.Decision{ID: pos[0], Verb: verb, By: *by, Reason: strings.TrimSpace(*reason)}
	if d.By == "" {
		d.By = os.Getenv(envApprover)
	}
	if d.By == "" {
		d.By = defaultIdentity()
	}
	if err := d.Validate(); err != nil {
		return fail(err)
	}
	token := os.Getenv(*tokenEnv)
	if token == "" {
		return fail(fmt.Errorf("$%s is empty: decisions are signed with the approver token", *tokenEnv))
	}
	d.Sign(token, time.Now())
	nc, _, err := connectCLI(*natsURL)
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r, err := importer.Decide(ctx, nc, d)
	if err != nil {
		return fail(err)
	}
	if !r.OK {
		return fail(errors.New(r.Error))
	}
	past := map[string]string{importer.VerbApprove: "approved", importer.VerbReject: "rejected"}[verb]
	if rec := r.Request; rec != nil {
		fmt.Fprintf(stdout, "%s %s: import %s (%s) into %s as %s, by %s; status %s\n", past, rec.ID, rec.Object.String(), rec.ImportID,
			rec.Workspace, rec.Address, rec.By, rec.Status)
	} else {
		fmt.Fprintf(stdout, "%s %s\n", past, d.ID)
	}
	return 0
}

func defaultIdentity() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}
