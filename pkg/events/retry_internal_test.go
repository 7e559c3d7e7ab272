package events

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRetryAPIRepeatsAnUnansweredRequest: a request that times out is made
// again within the caller's deadline; another error, or the caller's own
// deadline, ends it.
func TestRetryAPIRepeatsAnUnansweredRequest(t *testing.T) {
	defer func(d time.Duration) { apiAttempt = d }(apiAttempt)
	apiAttempt = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	calls := 0
	v, err := retryAPI(ctx, func(ctx context.Context) (int, error) {
		calls++
		if calls < 3 {
			<-ctx.Done() // never answered
			return 0, ctx.Err()
		}
		return 42, nil
	})
	if err != nil || v != 42 || calls != 3 {
		t.Fatalf("got %d, %v after %d calls; want 42 after 3", v, err, calls)
	}

	refused := errors.New("nats: permissions violation")
	calls = 0
	if _, err := retryAPI(ctx, func(context.Context) (int, error) { calls++; return 0, refused }); !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("a refusal: %v after %d calls; want it returned after 1", err, calls)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	calls = 0
	_, err = retryAPI(short, func(ctx context.Context) (int, error) { calls++; <-ctx.Done(); return 0, ctx.Err() })
	if !errors.Is(err, context.DeadlineExceeded) || short.Err() == nil {
		t.Fatalf("never answered: %v with the caller's deadline not reached", err)
	}
	if calls < 2 {
		t.Fatalf("never answered: %d calls within the caller's deadline, want it repeated", calls)
	}
}
