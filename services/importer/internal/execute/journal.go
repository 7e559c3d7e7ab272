package execute

import (
	"context"
	"sync"

	"github.com/driftgate/driftgate/pkg/tofu"
)

// MemJournal keeps the journal in memory: for tests, and for dry runs.
type MemJournal struct {
	mu    sync.Mutex
	entry *Entry
	moves map[int64]int64
}

func (j *MemJournal) Load(context.Context) (*Entry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.entry == nil {
		return nil, nil
	}
	e := *j.entry
	return &e, nil
}

func (j *MemJournal) Save(_ context.Context, e *Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := *e
	j.entry = &c
	return nil
}

func (j *MemJournal) Clear(context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entry = nil
	return nil
}

func (j *MemJournal) Moved(_ context.Context, from, to int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.moves == nil {
		j.moves = map[int64]int64{}
	}
	j.moves[from] = to
	return nil
}

func (j *MemJournal) Moves(context.Context) (map[int64]int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	m := map[int64]int64{}
	for k, v := range j.moves {
		m[k] = v
	}
	return m, nil
}

// S3Journal keeps the journal in an object next to the state
// (KEY.driftgate-import.json): a CLI run on an ephemeral CI runner leaves it
// where the next run finds it.
type S3Journal struct {
	Store *tofu.Store
}

type s3JournalDoc struct {
	Entry *Entry          `json:"entry,omitempty"`
	Moves map[int64]int64 `json:"moves,omitempty"`
}

func (j S3Journal) doc(ctx context.Context) (s3JournalDoc, error) {
	var d s3JournalDoc
	_, err := j.Store.GetSidecar(ctx, &d)
	return d, err
}

func (j S3Journal) Load(ctx context.Context) (*Entry, error) {
	d, err := j.doc(ctx)
	return d.Entry, err
}

func (j S3Journal) Save(ctx context.Context, e *Entry) error {
	d, err := j.doc(ctx)
	if err != nil {
		return err
	}
	d.Entry = e
	return j.Store.PutSidecar(ctx, d)
}

func (j S3Journal) Clear(ctx context.Context) error {
	d, err := j.doc(ctx)
	if err != nil {
		return err
	}
	d.Entry = nil
	return j.Store.PutSidecar(ctx, d)
}

func (j S3Journal) Moved(ctx context.Context, from, to int64) error {
	d, err := j.doc(ctx)
	if err != nil {
		return err
	}
	if d.Moves == nil {
		d.Moves = map[int64]int64{}
	}
	d.Moves[from] = to
	trimMoves(d.Moves)
	return j.Store.PutSidecar(ctx, d)
}

func (j S3Journal) Moves(ctx context.Context) (map[int64]int64, error) {
	d, err := j.doc(ctx)
	return d.Moves, err
}

// trimMoves keeps the 200 newest serial moves.
func trimMoves(m map[int64]int64) {
	for len(m) > 200 {
		var oldest int64 = -1
		for k := range m {
			if oldest < 0 || k < oldest {
				oldest = k
			}
		}
		delete(m, oldest)
	}
}
