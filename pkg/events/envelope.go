package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
)

// Extension attributes driftgate sets on its CloudEvents.
const (
	ExtWorkspace   = "workspace"
	ExtTraceparent = "traceparent"
)

var registry = map[string]func() Data{
	TypeObjectChanged:    func() Data { return &ObjectChanged{} },
	TypeClusterHealth:    func() Data { return &ClusterHealth{} },
	TypePlanCompleted:    func() Data { return &PlanCompleted{} },
	TypeDriftDetected:    func() Data { return &DriftDetected{} },
	TypeDriftResolved:    func() Data { return &DriftResolved{} },
	TypeImportRequested:  func() Data { return NewImport(ImportRequested, Import{}) },
	TypeImportApproved:   func() Data { return NewImport(ImportApproved, Import{}) },
	TypeImportRejected:   func() Data { return NewImport(ImportRejected, Import{}) },
	TypeImportStarted:    func() Data { return NewImport(ImportStarted, Import{}) },
	TypeImportSucceeded:  func() Data { return NewImport(ImportSucceeded, Import{}) },
	TypeImportFailed:     func() Data { return NewImport(ImportFailed, Import{}) },
	TypeImportRolledBack: func() Data { return NewImport(ImportRolledBack, Import{}) },
	TypeAlertDelivered:   func() Data { return NewAlert(false, Alert{}) },
	TypeAlertFailed:      func() Data { return NewAlert(true, Alert{}) },
	TypeSourceUpdated:    func() Data { return &SourceUpdated{} },
}

func knownTypes() []string {
	ts := make([]string, 0, len(registry))
	for t := range registry {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// Types lists every event type of the contract, sorted.
func Types() []string { return knownTypes() }

// NewData returns an empty payload for an event type, or false if the type is
// not part of the contract.
func NewData(eventType string) (Data, bool) {
	f, ok := registry[eventType]
	if !ok {
		return nil, false
	}
	return f(), true
}

// New wraps validated data in a CloudEvents 1.0 envelope. The id is the
// data's deterministic Key when it has one, so JetStream's duplicate window
// stores a fact once however often it is published.
func New(source string, d Data) (cloudevents.Event, error) {
	if err := d.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("%s: %w", d.EventType(), err)
	}
	e := cloudevents.NewEvent()
	id := d.Key()
	if id == "" {
		id = uuid.NewString()
	} else if len(id) > 128 {
		id = id[:64] + "-" + shortHash(id)
	}
	e.SetID(id)
	e.SetType(d.EventType())
	e.SetSource(source)
	e.SetSubject(d.Subject())
	e.SetTime(time.Now().UTC())
	if ws := d.Workspace(); ws != "" {
		e.SetExtension(ExtWorkspace, ws)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, d); err != nil {
		return cloudevents.Event{}, fmt.Errorf("encode %s: %w", d.EventType(), err)
	}
	if err := e.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("envelope %s: %w", d.EventType(), err)
	}
	return e, nil
}

// DecodeError says why a message is not a valid driftgate event; consumers
// dead-letter such messages with Reason.
type DecodeError struct {
	Reason string
	Err    error
}

func (e *DecodeError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}
func (e *DecodeError) Unwrap() error { return e.Err }

// Decode parses a structured-mode CloudEvent and its data and validates both.
func Decode(body []byte) (cloudevents.Event, Data, error) {
	var e cloudevents.Event
	if err := json.Unmarshal(body, &e); err != nil {
		return e, nil, &DecodeError{Reason: "not a CloudEvent", Err: err}
	}
	if err := e.Validate(); err != nil {
		return e, nil, &DecodeError{Reason: "invalid CloudEvent envelope", Err: err}
	}
	d, ok := NewData(e.Type())
	if !ok {
		return e, nil, &DecodeError{Reason: fmt.Sprintf("unknown event type %q", e.Type())}
	}
	if err := e.DataAs(d); err != nil {
		return e, nil, &DecodeError{Reason: "data does not parse as " + e.Type(), Err: err}
	}
	if err := d.Validate(); err != nil {
		return e, nil, &DecodeError{Reason: "invalid " + e.Type() + " data", Err: err}
	}
	return e, d, nil
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}
