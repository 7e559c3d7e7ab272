package tofu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ErrConflict is returned by Restore when the current version is not the
// one the caller expected to replace: someone else wrote the state.
var ErrConflict = errors.New("state object changed by another writer")

// Restore makes want the current content again, replacing exactly the
// version expect (compared by ETag; expect absent means "no current
// version"). A want that is absent deletes the object (a delete marker; every
// version stays). A state's serial never goes back: a want whose serial is
// not above the current version's is written with the current serial + 1
// (its content otherwise unchanged), because two contents with one lineage
// and serial are one state to the tool and to every reader that compares
// serials. It reads the result back and checks that its content, serial and
// lineage are what it wrote, and returns the new current version.
func (s *Store) Restore(ctx context.Context, want, expect Version) (Version, error) {
	cur, err := s.Current(ctx)
	if err != nil {
		return Version{}, err
	}
	if cur.Exists != expect.Exists || cur.ETag != expect.ETag || cur.ID != expect.ID {
		return Version{}, fmt.Errorf("restore state %s: current version is %s, expected %s: %w",
			s, cur, expect, ErrConflict)
	}
	if want.Exists && cur.Exists && want.Serial <= cur.Serial {
		body, err := AtSerial(want.Body, cur.Serial+1)
		if err != nil {
			return Version{}, fmt.Errorf("restore state %s: %w", s, err)
		}
		want.Body, want.Serial = body, cur.Serial+1
	}
	if !want.Exists {
		if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key)}); err != nil {
			return Version{}, fmt.Errorf("restore state %s to absent: %w", s, err)
		}
		after, err := s.Current(ctx)
		if err != nil {
			return Version{}, err
		}
		if after.Exists {
			return Version{}, fmt.Errorf("restore state %s to absent: version %s is current: %w", s, after, ErrConflict)
		}
		return after, nil
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.key),
		Body:          bytes.NewReader(want.Body),
		ContentLength: aws.Int64(int64(len(want.Body))),
		ContentType:   aws.String("application/json"),
	}
	if expect.Exists {
		in.IfMatch = aws.String(expect.ETag)
	} else {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := s.c.PutObject(ctx, in); err != nil {
		if isPreconditionFailed(err) {
			return Version{}, fmt.Errorf("restore state %s: %w", s, ErrConflict)
		}
		return Version{}, fmt.Errorf("restore state %s: %w", s, err)
	}
	after, err := s.Current(ctx)
	if err != nil {
		return Version{}, err
	}
	switch {
	case !bytes.Equal(after.Body, want.Body):
		return after, fmt.Errorf("restore state %s: version %s does not hold the restored content: %w", s, after, ErrConflict)
	case after.Serial != want.Serial || after.Lineage != want.Lineage:
		return after, fmt.Errorf("restore state %s: serial/lineage %d/%s, want %d/%s", s,
			after.Serial, after.Lineage, want.Serial, want.Lineage)
	}
	return after, nil
}

// Put writes body as the new current version, replacing exactly the
// version expect (a compare-and-set on its ETag), and returns the new
// version.
func (s *Store) Put(ctx context.Context, body []byte, expect Version) (Version, error) {
	m, err := ParseMeta(body)
	if err != nil {
		return Version{}, err
	}
	return s.Restore(ctx, Version{Exists: true, Body: body, Serial: m.Serial, Lineage: m.Lineage}, expect)
}

// AtSerial returns the state body with its serial set to serial and every
// other field as it was (the top-level fields are written in name order).
func AtSerial(body []byte, serial int64) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	if _, ok := m["serial"]; !ok {
		return nil, errors.New("state file: no serial")
	}
	m["serial"] = json.RawMessage(strconv.FormatInt(serial, 10))
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	return append(out, '\n'), nil
}

// SameContent reports whether two state bodies hold the same state apart
// from their serial: a version a rollback wrote forward (AtSerial) is the
// content it restored.
func SameContent(a, b []byte) bool {
	norm := func(body []byte) (string, bool) {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return "", false
		}
		delete(m, "serial")
		out, err := json.Marshal(m)
		return string(out), err == nil
	}
	na, oka := norm(a)
	nb, okb := norm(b)
	return oka && okb && na == nb
}
