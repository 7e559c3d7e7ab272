// Package servicetest runs driftgate services inside tests.
package servicetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/service"
)

// Run runs r until the returned stop is called or the test ends. stop
// cancels r and waits up to a minute for it; an error r returns, or a
// service that does not stop, fails the test.
func Run(t testing.TB, name string, r service.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			case <-time.After(time.Minute):
				t.Errorf("%s did not stop within a minute", name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
