package tofu

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Kind classifies why a tool run failed. None of them is drift: the planner
// reports each as a cluster.health event, the importer refuses or retries.
type Kind string

// Failure kinds.
const (
	KindInit         Kind = "init"          // init failed for another reason
	KindLock         Kind = "lock"          // the state lock is held by someone else (Err is a *LockedError)
	KindStateMissing Kind = "state-missing" // the command needs a state and there is none
	KindProvider     Kind = "provider"      // a provider cannot be installed, started or configured
	KindCredentials  Kind = "credentials"   // S3 or Kubernetes refused the credentials
	KindConfig       Kind = "config"        // the configuration is invalid
	KindUnreachable  Kind = "unreachable"   // the cluster or the state store cannot be reached
	KindDiskLow      Kind = "disk-low"      // below the free-space threshold, or the disk filled up
	KindTimeout      Kind = "timeout"       // the plan ran past its timeout and was interrupted
	KindCanceled     Kind = "canceled"      // the caller cancelled; the tool was interrupted with SIGINT
	KindTool         Kind = "tool"          // any other failure of the tool
)

// Condition is the cluster.health condition that reports this kind.
func (k Kind) Condition() string {
	switch k {
	case KindInit:
		return "InitFailed"
	case KindLock:
		return "LockHeld"
	case KindStateMissing:
		return "StateMissing"
	case KindProvider:
		return "ProviderFailed"
	case KindCredentials:
		return "CredentialsRejected"
	case KindConfig:
		return "ConfigInvalid"
	case KindUnreachable:
		return "Unreachable"
	case KindDiskLow:
		return "DiskLow"
	case KindTimeout:
		return "PlanTimeout"
	}
	return "PlanFailed"
}

// Error is a failed tool run, classified. Check the kind with errors.Is
// against the Err* sentinels, or errors.As for the details; a held lock
// also answers errors.As with a *LockedError naming the holder.
type Error struct {
	Kind      Kind
	Workspace string
	Op        string // init, plan, show, ...
	// Summary is the tool's first error line, without values from the
	// configuration or the plan.
	Summary string
	Err     error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("workspace %s: %s: %s", e.Workspace, e.Op, e.Kind)
	if e.Summary != "" {
		s += ": " + e.Summary
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the same kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Workspace == "" && t.Op == "" && t.Kind == e.Kind
}

// Sentinels for errors.Is.
var (
	ErrInit         = &Error{Kind: KindInit}
	ErrLock         = &Error{Kind: KindLock}
	ErrStateMissing = &Error{Kind: KindStateMissing}
	ErrProvider     = &Error{Kind: KindProvider}
	ErrCredentials  = &Error{Kind: KindCredentials}
	ErrConfig       = &Error{Kind: KindConfig}
	ErrUnreachable  = &Error{Kind: KindUnreachable}
	ErrDiskLow      = &Error{Kind: KindDiskLow}
	ErrTimeout      = &Error{Kind: KindTimeout}
	ErrCanceled     = &Error{Kind: KindCanceled}
)

// patterns map tool output to a kind, checked in order.
var patterns = []struct {
	kind Kind
	any  []string
}{
	{KindDiskLow, []string{"no space left on device"}},
	{KindLock, []string{"error acquiring the state lock", "error locking state", "state lock", "lock info:",
		"conditionalcheckfailed", "conditionalrequestconflict"}},
	{KindStateMissing, []string{"no state file was found"}},
	{KindCredentials, []string{"invalidaccesskeyid", "signaturedoesnotmatch", "accessdenied", "access denied", "expiredtoken",
		"no valid credential sources", "nocredentialproviders", "invalidclienttokenid", "failed to refresh cached credentials",
		"unauthorized", "forbidden", "invalid bearer token", "x509: certificate signed by unknown authority"}},
	{KindConfig, []string{"unsupported argument", "invalid reference", "reference to undeclared", "missing required argument",
		"unsupported block type", "argument or block definition required", "invalid expression", "duplicate resource",
		"unclosed configuration block", "invalid block definition", "invalid character", "unsupported attribute",
		"there are some problems with the configuration", "invalid resource type", "no value for required variable",
		"error parsing", "invalid value for input variable", "invalid function argument", "call to unknown function",
		"invalid template interpolation value", "incorrect attribute value type", "invalid index", "unknown variable",
		"inconsistent conditional result types", "invalid for_each argument", "invalid count argument", "invalid yaml"}},
	{KindProvider, []string{"failed to query available provider packages", "failed to install provider", "could not load plugin",
		"failed to load plugin schemas", "inconsistent dependency lock file", "required plugins are not installed",
		"missing required provider", "plugin did not respond", "failed to instantiate provider", "provider produced invalid",
		"could not retrieve the list of available versions", "incompatible provider version", "plugin exited",
		"error: invalid provider configuration", "provider configuration not present"}},
	{KindUnreachable, []string{"connection refused", "no such host", "i/o timeout", "cluster unreachable", "network is unreachable",
		"tls handshake timeout", "context deadline exceeded (client.timeout", "connection reset by peer", "eof"}},
}

// kindOf classifies a failed run of op from its output text.
func kindOf(op, text string) Kind {
	t := strings.ToLower(text)
	for _, p := range patterns {
		for _, s := range p.any {
			if p.kind == KindUnreachable && s == "eof" {
				if strings.Contains(t, ": eof") {
					return p.kind
				}
				continue
			}
			if strings.Contains(t, s) {
				return p.kind
			}
		}
	}
	if op == "init" {
		return KindInit
	}
	return KindTool
}

// Classify wraps a tool error of workspace/op in an *Error of the right
// kind; ctx is the context the run used (cancellation and timeouts are told
// apart through it). It returns nil for a nil err and leaves an *Error as
// it is.
func Classify(ctx context.Context, workspace, op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var le *LockedError
	if errors.As(err, &le) {
		return &Error{Kind: KindLock, Workspace: workspace, Op: op, Summary: le.Error(), Err: err}
	}
	text := err.Error()
	k := kindOf(op, text)
	// The context says which: terraform-exec's error matches both
	// context.Canceled and context.DeadlineExceeded.
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		k = KindTimeout
	case ctx.Err() != nil:
		k = KindCanceled
	}
	if k == KindLock && ctx.Err() == nil {
		err = &LockedError{Holder: parseLockInfo(text), Err: err}
	}
	return &Error{Kind: k, Workspace: workspace, Op: op, Summary: summary(text), Err: err}
}

// summary picks the tool's first "Error:" line (or the first line) and caps
// it. The detail lines below it can quote configuration values, so they are
// left out.
func summary(text string) string {
	lines := strings.Split(text, "\n")
	pick := ""
	for i, l := range lines {
		l = strings.TrimSpace(strings.Trim(l, "│╷╵ "))
		if strings.HasPrefix(l, "Error: ") {
			pick = strings.TrimPrefix(l, "Error: ")
			// The line after a summary often says which backend or
			// provider; keep it when short and free of quotes.
			for _, n := range lines[i+1:] {
				n = strings.TrimSpace(strings.Trim(n, "│╷╵ "))
				if n == "" {
					continue
				}
				if len(n) < 160 && !strings.ContainsAny(n, "\"'=") {
					pick += ": " + n
				}
				break
			}
			break
		}
	}
	if pick == "" {
		for _, l := range lines {
			if l = strings.TrimSpace(l); l != "" {
				pick = l
				break
			}
		}
	}
	if len(pick) > 300 {
		pick = pick[:300] + "…"
	}
	return pick
}
