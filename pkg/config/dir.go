package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkDirs: every workspace's dir exists (Load checks it; Parse reads text
// that may describe another machine).
func (f *File) checkDirs() error {
	for i, w := range f.Workspaces {
		if w.Source != nil {
			continue // fetched into the data dir
		}
		if err := f.checkDir(fmt.Sprintf("workspaces[%d].dir", i), w.Dir); err != nil {
			return err
		}
	}
	return nil
}

// checkDir: a workspace's dir exists and is a directory. A relative dir is
// read against the config file's directory, as the services resolve it.
func (f *File) checkDir(path, dir string) error {
	full := dir
	if !filepath.IsAbs(dir) && f.Path != "" {
		full = filepath.Join(filepath.Dir(f.Path), dir)
	}
	st, err := os.Stat(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return f.errf(path, "%q does not exist (relative dirs are read from the config file's directory)", dir)
	case err != nil:
		return f.errf(path, "%q: %v", dir, err)
	case !st.IsDir():
		return f.errf(path, "%q is not a directory", dir)
	}
	return nil
}
