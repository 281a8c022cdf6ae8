package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dmrnet/dmrnet/internal/checkpoint"
)

// cached is what a cache file holds.
type cached struct {
	Data *Dataset
	Std  []StandardizeSpec
}

// CacheKey identifies preprocessed data: a hash of the preprocessing settings and of the
// content of every input file (so an edited file or setting misses the cache).
func CacheKey(settings any, files []string) (string, error) {
	h := sha256.New()
	js, err := json.Marshal(settings)
	if err != nil {
		return "", err
	}
	h.Write(js)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return "", invalidf("%v", err)
		}
		fmt.Fprintf(h, "\x00%s\x00", filepath.Base(f))
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", invalidf("read %s: %v", f, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// Cached returns the data set stored under key in dir, or builds it and stores it. A
// damaged cache file is rebuilt. With dir == "" it just builds.
func Cached(dir, kind, key string, build func() (*Dataset, []StandardizeSpec, error)) (*Dataset, []StandardizeSpec, error) {
	if dir == "" {
		return build()
	}
	path := filepath.Join(dir, kind+"-"+key+".cache")
	var c cached
	if err := checkpoint.Load(path, &c); err == nil && c.Data != nil {
		return c.Data, c.Std, nil
	}
	d, std, err := build()
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("data cache: %w", err)
	}
	if err := checkpoint.Save(path, &cached{Data: d, Std: std}); err != nil {
		return nil, nil, fmt.Errorf("data cache: %w", err)
	}
	return d, std, nil
}
