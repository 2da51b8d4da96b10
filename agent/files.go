package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// file is one version of a served file, as read from disk.
type file struct {
	data    []byte
	modTime time.Time
	size    int64
	ino     uint64

	once   sync.Once // what is derived from data (parsed certificates, inventory) is computed once per version
	parsed any
	err    error
}

// derive computes (once per file version) something parsed from the data.
func (f *file) derive(parse func([]byte) (any, error)) (any, error) {
	f.once.Do(func() { f.parsed, f.err = parse(f.data) })
	return f.parsed, f.err
}

// files reads files from one directory and keeps the last version of each
// until its stat (size, mtime, inode) changes, so that the charm replacing a
// file (Pebble pushes write a new file and rename it) is picked up on the next
// request without rereading unchanged files.
type files struct {
	dir   string
	mu    sync.Mutex
	cache map[string]*file
}

func newFiles(dir string) *files {
	return &files{dir: dir, cache: make(map[string]*file)}
}

// get returns the current version of name, or an error wrapping
// os.ErrNotExist when it is missing.
func (fs *files) get(name string) (*file, error) {
	path := filepath.Join(fs.dir, name)
	st, err := os.Stat(path)
	if err != nil {
		fs.forget(name)
		return nil, fmt.Errorf("cannot read %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("cannot read %s: not a regular file", name)
	}
	var ino uint64
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = sys.Ino
	}
	fs.mu.Lock()
	cached := fs.cache[name]
	fs.mu.Unlock()
	if cached != nil && cached.size == st.Size() && cached.modTime.Equal(st.ModTime()) && cached.ino == ino {
		return cached, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, err)
	}
	// Stat before reading: if the file changes in between, the next request
	// sees a newer stat and rereads, so a stale version is never kept.
	f := &file{data: data, modTime: st.ModTime(), size: st.Size(), ino: ino}
	fs.mu.Lock()
	fs.cache[name] = f
	fs.mu.Unlock()
	return f, nil
}

func (fs *files) forget(name string) {
	fs.mu.Lock()
	delete(fs.cache, name)
	fs.mu.Unlock()
}
