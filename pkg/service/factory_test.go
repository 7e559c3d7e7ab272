package service

import (
	"context"
	"errors"
	"testing"

	"github.com/driftgate/driftgate/pkg/config"
)

type fakeService struct{}

func (*fakeService) Run(context.Context) error { return nil }

type fakeOption func()

func TestFactoryOf(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name    string
		s       *fakeService
		err     error
		runner  bool
		wantErr error
	}{
		{"nothing to do: a nil Runner, not a nil pointer in one", nil, nil, false, nil},
		{"a service", &fakeService{}, nil, true, nil},
		{"an error", nil, boom, false, boom},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := FactoryOf(func(*config.File, Deps, ...fakeOption) (*fakeService, error) { return c.s, c.err })
			r, err := f(&config.File{}, Deps{})
			if (r != nil) != c.runner || !errors.Is(err, c.wantErr) {
				t.Fatalf("runner %v, err %v; want runner %v, err %v", r, err, c.runner, c.wantErr)
			}
		})
	}
}
