package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestUpStatusStopStartDown drives the command as make lab-up, make lab-down
// and the demo's fault injection do.
func TestUpStatusStopStartDown(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func() { _ = run([]string{"down", "--dir", dir}, &bytes.Buffer{}) })
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"up", "--dir", dir, "--no-controller-manager", "--no-s3"}, "lab up in"},
		{[]string{"status", "--dir", dir}, "kube-apiserver           running"},
		{[]string{"stop", "apiserver", "--dir", dir}, "apiserver: stopped"},
		{[]string{"status", "--dir", dir}, "kube-apiserver           stopped"},
		{[]string{"start", "apiserver", "--dir", dir}, "apiserver: started"},
		{[]string{"status", "--dir", dir}, "kube-apiserver           running"},
		{[]string{"down", "--dir", dir}, "stopped"},
		{[]string{"down", "--dir", dir}, "no lab running"},
	}
	for _, s := range steps {
		var out bytes.Buffer
		if err := run(s.args, &out); err != nil {
			t.Fatalf("lab %s: %v\n%s", strings.Join(s.args, " "), err, out.String())
		}
		if !strings.Contains(out.String(), s.want) {
			t.Fatalf("lab %s: output lacks %q:\n%s", strings.Join(s.args, " "), s.want, out.String())
		}
	}
	for _, bad := range [][]string{{}, {"frobnicate"}, {"stop"}, {"stop", "etcd", "--dir", dir}} {
		if err := run(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("lab %v: no error", bad)
		}
	}
}
