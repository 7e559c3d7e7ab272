package importer

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
)

// The import journal (importer.journal.<ws>) tells recovery which state
// version to keep or restore, and the serial moves (importer.moves.<ws>)
// tell the preflight which serial changes were driftgate's own imports.
// Whoever could write them could make the importer roll a workspace's state
// back to an earlier version, or accept a stale request. So, like a
// request's decision, each is sealed by the importer with the approver
// token, over the exact bytes stored and the key they are stored under (a
// journal copied to another workspace does not verify), and nothing acts on
// one that does not verify: checkJournal refuses it before recovery.

// Seal versions: a journal's message cannot be read as a request's
// ("driftgate-request-v1") or a decision's ("driftgate-decision-v1").
const (
	journalSealVersion = "driftgate-journal-v1"
	movesSealVersion   = "driftgate-moves-v1"
)

// errJournalUnverified is what a journal or moves record that the importer
// cannot verify (unsealed, altered, sealed with another token, or no token
// to verify with) is refused with.
var errJournalUnverified = errors.New("not sealed by this importer")

// sealedRecord is what the bucket holds under a journal or moves key: the
// record's JSON exactly as sealed, and the seal.
type sealedRecord struct {
	Record json.RawMessage `json:"record"`
	Seal   string          `json:"seal"`
}

func recordSeal(token, version, key string, raw []byte) []byte {
	return mac(token, append([]byte(version+"\n"+key+"\n"), raw...))
}

// kvJournal is the execute.Journal of a workspace in the state bucket,
// sealed with the approver token.
type kvJournal struct {
	kv    jetstream.KeyValue
	ws    string
	token string
}

// putSealed stores v under key with its seal.
func (j kvJournal) putSealed(ctx context.Context, version, key string, v any) error {
	if j.token == "" {
		return fmt.Errorf("kv put %s: %w: the importer has no approver token to seal it with", key, errJournalUnverified)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("kv put %s: encode: %w", key, err)
	}
	_, err = events.PutJSON(ctx, j.kv, key, sealedRecord{Record: raw, Seal: hex.EncodeToString(recordSeal(j.token, version, key, raw))})
	return err
}

// getSealed reads key into v; ok is false when the key does not exist. A
// record that does not verify is an error wrapping errJournalUnverified,
// and v is left alone.
func (j kvJournal) getSealed(ctx context.Context, version, key string, v any) (ok bool, err error) {
	e, err := j.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("kv get %s: %w", key, err)
	}
	if err := verifySealed(e.Value(), j.token, version, key, v); err != nil {
		return false, fmt.Errorf("%s: %w", key, err)
	}
	return true, nil
}

// verifySealed checks b, a sealedRecord stored under key, and decodes its
// record into v.
func verifySealed(b []byte, token, version, key string, v any) error {
	if token == "" {
		return fmt.Errorf("%w: the importer has no approver token to verify it with", errJournalUnverified)
	}
	var sr sealedRecord
	if err := json.Unmarshal(b, &sr); err != nil || len(sr.Record) == 0 {
		return fmt.Errorf("%w: not a sealed record", errJournalUnverified)
	}
	if sr.Seal == "" {
		return fmt.Errorf("%w: the record is not sealed", errJournalUnverified)
	}
	got, err := hex.DecodeString(sr.Seal)
	if err != nil {
		return fmt.Errorf("%w: malformed seal", errJournalUnverified)
	}
	if !hmac.Equal(got, recordSeal(token, version, key, sr.Record)) {
		return fmt.Errorf("%w: seal mismatch (altered, copied from another key, or sealed with another token)", errJournalUnverified)
	}
	if err := json.Unmarshal(sr.Record, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

func (j kvJournal) Load(ctx context.Context) (*execute.Entry, error) {
	var e execute.Entry
	ok, err := j.getSealed(ctx, journalSealVersion, journalKey(j.ws), &e)
	if err != nil || !ok {
		return nil, err
	}
	return &e, nil
}

func (j kvJournal) Save(ctx context.Context, e *execute.Entry) error {
	return j.putSealed(ctx, journalSealVersion, journalKey(j.ws), e)
}

func (j kvJournal) Clear(ctx context.Context) error {
	if err := j.kv.Delete(ctx, journalKey(j.ws)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("clear journal of %s: %w", j.ws, err)
	}
	return nil
}

func (j kvJournal) Moved(ctx context.Context, from, to int64) error {
	m, err := j.Moves(ctx)
	if err != nil {
		return err
	}
	if m == nil {
		m = map[int64]int64{}
	}
	m[from] = to
	for len(m) > 200 {
		var oldest int64 = -1
		for k := range m {
			if oldest < 0 || k < oldest {
				oldest = k
			}
		}
		delete(m, oldest)
	}
	return j.putSealed(ctx, movesSealVersion, movesKey(j.ws), m)
}

func (j kvJournal) Moves(ctx context.Context) (map[int64]int64, error) {
	var m map[int64]int64
	_, err := j.getSealed(ctx, movesSealVersion, movesKey(j.ws), &m)
	return m, err
}

// checkJournal runs under the workspace lease, before recovery: a journal
// or moves record of ws that does not verify is not acted on. It is moved
// aside (importer.refused.<journal|moves>.<ws>, for review), the refusal is
// logged at error level and reported as cluster.health
// ImportJournalRefused=True (critical), and the workspace carries on as if
// there were none: nothing is rolled back on its word. Without an approver
// token nothing can be verified, so nothing is judged either: the records
// stay, and recovery waits (ok false).
func (s *Service) checkJournal(ctx context.Context, ws string) (ok bool, err error) {
	j := kvJournal{kv: s.d.Buckets.State, ws: ws, token: s.token}
	for _, rec := range []struct{ key, version, what string }{
		{journalKey(ws), journalSealVersion, "journal"},
		{movesKey(ws), movesSealVersion, "moves"},
	} {
		e, err := j.kv.Get(ctx, rec.key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("kv get %s: %w", rec.key, err)
		}
		if s.token == "" {
			s.log.Warn("import journal waits: the importer has no approver token to verify it with", "workspace", ws, "key", rec.key)
			return false, nil
		}
		var discard json.RawMessage
		why := verifySealed(e.Value(), s.token, rec.version, rec.key, &discard)
		if why == nil {
			continue
		}
		aside := events.Key("importer", "refused", rec.what, ws)
		if _, err := j.kv.Put(ctx, aside, e.Value()); err != nil {
			return false, fmt.Errorf("set aside %s: %w", rec.key, err)
		}
		// Delete only the value we judged: a record rewritten meanwhile is
		// judged again on the next pass.
		if err := j.kv.Delete(ctx, rec.key, jetstream.LastRevision(e.Revision())); err != nil {
			return false, fmt.Errorf("remove %s: %w", rec.key, err)
		}
		msg := fmt.Sprintf("the import %s of workspace %s is refused: %v; nothing was recovered or rolled back on its word; kept at %s for review",
			rec.what, ws, why, aside)
		s.log.Error("import journal refused: not sealed by this importer", "workspace", ws, "key", rec.key, "reason", why, "kept_at", aside)
		s.reportJournal(ws, msg)
	}
	return true, nil
}

// reportJournal publishes cluster.health ImportJournalRefused=True for ws.
func (s *Service) reportJournal(ws, msg string) {
	w, err := s.cfg.Workspace(ws)
	if err != nil {
		return
	}
	now := time.Now().UTC()
	h := &events.ClusterHealth{Cluster: w.Cluster, Component: events.ComponentImporter, Condition: "ImportJournalRefused",
		Status: "True", Severity: events.SeverityCritical, WS: ws, Reason: "UnverifiedJournal", Message: msg,
		Since: now, ObservedAt: now}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.pub.Publish(ctx, h); err != nil {
		s.log.Error("publish journal refusal", "workspace", ws, "err", err)
	}
}

// journalOf returns the opener of a workspace's sealed journal (every
// workspace, local or from Git, seals with the approver token).
func (s *Service) journalOf(ws string) func(*tofu.Store) execute.Journal {
	return func(*tofu.Store) execute.Journal { return kvJournal{kv: s.d.Buckets.State, ws: ws, token: s.token} }
}
