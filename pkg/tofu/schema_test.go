package tofu

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"runtime"
	"testing"
	"time"
	"weak"

	tfjson "github.com/hashicorp/terraform-json"
)

// readSchema parses the recorded `providers schema -json` of
// hashicorp/kubernetes 3.2.1.
func readSchema(t *testing.T) *tfjson.ProviderSchemas {
	t.Helper()
	b, err := os.ReadFile("../../testdata/kubernetes-3.2.1/schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s tfjson.ProviderSchemas
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// TestShareSchemas: two reads of the same document give one copy, another
// document its own, and a copy nobody holds any more leaves the table.
func TestShareSchemas(t *testing.T) {
	keys := shareTwoDocuments(t)
	held := func() int {
		n := 0
		for _, k := range keys {
			if _, ok := sharedSchemas.Load(k); ok {
				n++
			}
		}
		return n
	}
	// Nothing holds the schemas now. Cleanups run after a collection, on
	// their own goroutine: collect until both entries are gone.
	deadline := time.Now().Add(10 * time.Second)
	for held() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left after their schemas were collected", held())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// shareTwoDocuments shares two reads of the recorded schema and a changed
// copy of it, and returns the keys of the two documents.
func shareTwoDocuments(t *testing.T) [][sha256.Size]byte {
	a, b := readSchema(t), readSchema(t)
	if a == b {
		t.Fatal("two reads parsed into one value")
	}
	if got := shareSchemas(a); got != a {
		t.Fatal("the first read is not the one kept")
	}
	if got := shareSchemas(b); got != a {
		t.Fatal("the same document read again is not shared")
	}
	other := readSchema(t)
	for _, p := range other.Schemas {
		delete(p.ResourceSchemas, "kubernetes_manifest")
	}
	if got := shareSchemas(other); got != other {
		t.Fatal("a different document was given another's copy")
	}
	var keys [][sha256.Size]byte
	for _, s := range []*tfjson.ProviderSchemas{a, other} {
		j, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		k := sha256.Sum256(j)
		v, ok := sharedSchemas.Load(k)
		if !ok || v.(weak.Pointer[tfjson.ProviderSchemas]).Value() != s {
			t.Fatal("a shared document is not in the table")
		}
		keys = append(keys, k)
	}
	return keys
}
