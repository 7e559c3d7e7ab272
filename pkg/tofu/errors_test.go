package tofu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		op, text string
		want     Kind
	}{
		{"plan", "Error: Error acquiring the state lock\n\nLock Info:\n  ID: x", KindLock},
		{"init", "Error: error configuring S3 Backend: InvalidAccessKeyId: The Access Key Id you provided does not exist", KindCredentials},
		{"plan", "Error: Unauthorized", KindCredentials},
		{"init", "Error: Failed to query available provider packages\n\nCould not retrieve the list", KindProvider},
		{"init", "Error: Inconsistent dependency lock file", KindProvider},
		{"plan", "Error: Unsupported argument\n\n  on main.tf line 3", KindConfig},
		{"init", "Error: Argument or block definition required", KindConfig},
		{"plan", `Error: Get "https://127.0.0.1:6443/api/v1/namespaces/shop": dial tcp 127.0.0.1:6443: connect: connection refused`, KindUnreachable},
		{"plan", "write plan: no space left on device", KindDiskLow},
		{"init", "Error: something odd", KindInit},
		{"plan", "Error: something odd", KindTool},
	}
	for _, tt := range tests {
		if got := kindOf(tt.op, tt.text); got != tt.want {
			t.Errorf("kindOf(%s, %q) = %s, want %s", tt.op, tt.text, got, tt.want)
		}
	}
}

func TestClassifyError(t *testing.T) {
	err := Classify(context.Background(), "m", "plan", errors.New("exit status 1\n\n│ Error: Error acquiring the state lock\n│ \n│ Lock Info:\n│   ID: 123"))
	if !errors.Is(err, ErrLock) || errors.Is(err, ErrInit) {
		t.Fatalf("lock: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Workspace != "m" || e.Op != "plan" || !strings.HasPrefix(e.Summary, "Error acquiring the state lock") {
		t.Fatalf("details: %+v", e)
	}
	if e.Kind.Condition() != "LockHeld" {
		t.Fatalf("condition %s", e.Kind.Condition())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Classify(ctx, "m", "plan", errors.New("signal: interrupt")); !errors.Is(err, ErrCanceled) {
		t.Fatalf("canceled: %v", err)
	}
	if Classify(context.Background(), "m", "plan", nil) != nil {
		t.Fatal("nil stays nil")
	}
}

func TestSummaryLeavesDetailsOut(t *testing.T) {
	s := summary("exit status 1\n\nError: Invalid value for variable\n\n  on vars.tf line 1:\n  password = \"hunter2\"\n")
	if strings.Contains(s, "hunter2") || !strings.HasPrefix(s, "Invalid value for variable") {
		t.Fatalf("summary %q", s)
	}
}

// TestClassifyRecordedOutput classifies what the real tools printed (see
// testdata/*/README): each failure comes back as the kind callers branch on.
func TestClassifyRecordedOutput(t *testing.T) {
	tests := []struct {
		file, op string
		want     *Error
	}{
		{"tofu-1.10.10/plan-lock-held.txt", "plan", ErrLock},
		{"tofu-1.10.10/plan-unsupported-argument.txt", "plan", ErrConfig},
		{"tofu-1.10.10/state-show-no-state.txt", "state show", ErrStateMissing},
		{"tofu-1.10.10/state-list-no-state.txt", "state list", ErrStateMissing},
		{"tofu-1.10.10/init-provider-not-found.txt", "init", ErrProvider},
	}
	for _, tt := range tests {
		b, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		// terraform-exec's error: the exit status, then the tool's stderr.
		err = Classify(context.Background(), "w", tt.op, fmt.Errorf("exit status 1\n\n%s", b))
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want kind %s", tt.file, err, tt.want.Kind)
		}
		var le *LockedError
		if got := errors.As(err, &le); got != (tt.want == ErrLock) {
			t.Errorf("%s: errors.As(*LockedError) = %v", tt.file, got)
		}
	}
}

func TestLockedErrorNamesTheHolder(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "tofu-1.10.10", "plan-lock-held.txt"))
	if err != nil {
		t.Fatal(err)
	}
	err = Classify(context.Background(), "w", "plan", fmt.Errorf("exit status 1\n\n%s", b))
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("%v is not a *LockedError", err)
	}
	want := LockInfo{ID: "c6fcae96-49a9-2201-3d01-ef00b925216c", Path: "terraform.tfstate", Operation: "OperationTypeApply",
		Who: "root@vm", Version: "1.10.10", Created: time.Date(2026, 12, 2, 19, 54, 17, 554198649, time.UTC)}
	if !le.Holder.Created.Equal(want.Created) {
		t.Errorf("created %v, want %v", le.Holder.Created, want.Created)
	}
	le.Holder.Created, want.Created = time.Time{}, time.Time{}
	if le.Holder != want {
		t.Errorf("holder %+v, want %+v", le.Holder, want)
	}
	if !strings.Contains(le.Error(), "root@vm") || !strings.Contains(le.Error(), "OperationTypeApply") {
		t.Errorf("message %q does not name the holder", le.Error())
	}
	// A lock object found held (Store.Lock) classifies as a lock too.
	held := &LockedError{Holder: LockInfo{ID: "1", Who: "ci@runner", Operation: "OperationTypeApply"}}
	if err := Classify(context.Background(), "w", "lock", held); !errors.Is(err, ErrLock) || !errors.As(err, &le) || le != held {
		t.Errorf("lock object: %v", err)
	}
}

func TestCanceledIsNotALock(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "tofu-1.10.10", "plan-lock-held.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Classify(ctx, "w", "plan", fmt.Errorf("exit status 1\n\n%s", b))
	var le *LockedError
	if !errors.Is(err, ErrCanceled) || errors.As(err, &le) {
		t.Fatalf("cancelled run: %v", err)
	}
}
