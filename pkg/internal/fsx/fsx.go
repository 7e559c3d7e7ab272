// Package fsx holds the file-system helpers several packages of pkg share.
package fsx

import (
	"errors"
	"os"
	"path/filepath"
)

// RemoveExcept removes every entry of root whose name is not in keep (only
// directories when dirsOnly); a missing root is nothing to remove.
func RemoveExcept(root string, keep []string, dirsOnly bool) error {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	k := map[string]bool{}
	for _, n := range keep {
		k[n] = true
	}
	var errs []error
	for _, e := range entries {
		if (e.IsDir() || !dirsOnly) && !k[e.Name()] {
			errs = append(errs, os.RemoveAll(filepath.Join(root, e.Name())))
		}
	}
	return errors.Join(errs...)
}
