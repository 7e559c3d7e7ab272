package main

import (
	"reflect"
	"testing"
)

func TestLineDiff(t *testing.T) {
	got := lineDiff("a\nb\nc\n", "a\nx\nc\nd\n")
	want := []string{" a", "+x", "-b", " c", "+d"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
	if got := lineDiff("", "a\n"); !reflect.DeepEqual(got, []string{"+a"}) {
		t.Errorf("new file: %q", got)
	}
}
