package stateindex

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/driftgate/driftgate/pkg/tofu"
)

// Source keeps the index of one state object current. It only reads the
// state object: it never reads or takes the state lock. It is safe for
// concurrent use.
type Source struct {
	store *tofu.Store
	loc   tofu.Location

	mu  sync.Mutex
	cur *Index
}

// NewSource returns a source reading loc through api (see tofu.NewS3Client).
func NewSource(api tofu.S3API, loc tofu.Location) *Source {
	return &Source{store: tofu.NewStore(api, loc.Bucket, loc.Key), loc: loc}
}

// Location is where the source reads from.
func (s *Source) Location() tofu.Location { return s.loc }

// Current is the last loaded index, or nil before the first Load.
func (s *Source) Current() *Index {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Load returns the current index, reading the state object again only when
// its ETag or version differs from the last read (one HEAD request
// otherwise). changed is true when the returned index replaced another. A
// missing state object is an empty index.
func (s *Source) Load(ctx context.Context) (ix *Index, changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	head, err := s.store.Head(ctx)
	if err != nil {
		return s.cur, false, err
	}
	if !head.Exists {
		if s.cur != nil && s.cur.ETag == "" && s.cur.Serial == 0 {
			return s.cur, false, nil
		}
		s.cur = Empty()
		return s.cur, true, nil
	}
	if s.cur != nil && s.cur.ETag == head.ETag && s.cur.VersionID == head.ID {
		return s.cur, false, nil
	}
	var v tofu.Version
	if head.ID == "" || head.ID == "null" {
		v, err = s.store.Current(ctx)
	} else {
		v, err = s.store.Get(ctx, head.ID)
	}
	if errors.Is(err, tofu.ErrVersionGone) || (err == nil && !v.Exists) {
		// Deleted between HEAD and GET: read again next time.
		return s.cur, false, nil
	}
	if err != nil {
		return s.cur, false, err
	}
	next, err := Parse(v.Body)
	if err != nil {
		return s.cur, false, fmt.Errorf("state %s: %w", s.loc, err)
	}
	next.ETag, next.VersionID, next.LoadedAt, next.raw = v.ETag, v.ID, time.Now(), v.Body
	s.cur = next
	return next, true, nil
}
