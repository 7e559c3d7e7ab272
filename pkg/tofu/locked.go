package tofu

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// LockInfo describes a state lock's holder, in the format OpenTofu and
// Terraform write into a lock object and print under "Lock Info:".
type LockInfo struct {
	ID        string    `json:"ID"`
	Operation string    `json:"Operation"`
	Info      string    `json:"Info"`
	Who       string    `json:"Who"`
	Version   string    `json:"Version"`
	Created   time.Time `json:"Created"`
	Path      string    `json:"Path"`
}

// LockedError is a state lock held by someone else: the tool refused to run
// (Classify wraps it in an *Error of KindLock) or the lock object could not
// be created (Store.Lock). Callers wait and retry; nothing in driftgate
// breaks the lock.
type LockedError struct {
	// Holder is who holds the lock; zero when it could not be read.
	Holder LockInfo
	Err    error
}

func (e *LockedError) Error() string {
	h := e.Holder
	switch {
	case h.ID == "" && h.Who == "":
		return fmt.Sprintf("state is locked: %v", e.Err)
	case h.Created.IsZero():
		return fmt.Sprintf("state is locked by %s (operation %s, lock %s)", h.Who, h.Operation, h.ID)
	}
	return fmt.Sprintf("state is locked by %s (operation %s, lock %s, since %s)", h.Who, h.Operation,
		h.ID, h.Created.Format(time.RFC3339))
}

func (e *LockedError) Unwrap() error { return e.Err }

var lockInfoLine = regexp.MustCompile(`^\s*(ID|Path|Operation|Who|Version|Created|Info):\s*(.*?)\s*$`)

// parseLockInfo reads the "Lock Info:" block of the tool's lock error; a
// zero LockInfo when there is none.
func parseLockInfo(text string) LockInfo {
	var li LockInfo
	_, block, ok := strings.Cut(text, "Lock Info:")
	if !ok {
		return li
	}
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimLeft(l, "│ ")
		m := lockInfoLine.FindStringSubmatch(l)
		if m == nil {
			if strings.TrimSpace(l) == "" && li.ID != "" {
				break
			}
			continue
		}
		switch v := m[2]; m[1] {
		case "ID":
			li.ID = v
		case "Path":
			li.Path = v
		case "Operation":
			li.Operation = v
		case "Who":
			li.Who = v
		case "Version":
			li.Version = v
		case "Created":
			// Go's time.Time.String, as both tools print it.
			li.Created, _ = time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", v)
		case "Info":
			li.Info = v
		}
	}
	return li
}
