package imports

import (
	"errors"
	"testing"
	"time"
)

func TestDecisionSignature(t *testing.T) {
	now := time.Now()
	d := Decision{ID: "ir-1", Verb: VerbApprove, By: "alice", Reason: "checked the diff"}
	d.Sign("s3cret", now)
	if err := d.Verify("s3cret", now); err != nil {
		t.Fatalf("a signed decision: %v", err)
	}
	for name, c := range map[string]struct {
		mutate func(*Decision)
		token  string
		at     time.Time
	}{
		"no token configured": {token: "", at: now},
		"wrong token":         {token: "guess", at: now},
		"unsigned":            {mutate: func(d *Decision) { d.Signature = "" }, token: "s3cret", at: now},
		"tampered verb":       {mutate: func(d *Decision) { d.Verb = VerbReject }, token: "s3cret", at: now},
		"tampered id":         {mutate: func(d *Decision) { d.ID = "ir-2" }, token: "s3cret", at: now},
		"tampered by":         {mutate: func(d *Decision) { d.By = "mallory" }, token: "s3cret", at: now},
		"too old":             {token: "s3cret", at: now.Add(MaxDecisionSkew + time.Minute)},
	} {
		x := d
		if c.mutate != nil {
			c.mutate(&x)
		}
		if err := x.Verify(c.token, c.at); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
}

func TestDecisionValidate(t *testing.T) {
	for _, c := range []struct {
		d  Decision
		ok bool
	}{
		{Decision{ID: "ir-1", Verb: VerbApprove, By: "a"}, true},
		{Decision{ID: "ir-1", Verb: VerbReject, By: "a"}, false},
		{Decision{ID: "ir-1", Verb: VerbReject, By: "a", Reason: "no"}, true},
		{Decision{ID: "", Verb: VerbApprove, By: "a"}, false},
		{Decision{ID: "ir-1", Verb: "force", By: "a"}, false},
		{Decision{ID: "ir-1", Verb: VerbApprove}, false},
	} {
		if err := c.d.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.d, err)
		}
	}
}
