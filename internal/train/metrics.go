package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/dmrnet/dmrnet/internal/atomicfile"
)

// appendMetrics adds one epoch's line to metrics.jsonl.
func appendMetrics(path string, s EpochStats) error {
	line, err := json.Marshal(s)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("metrics: %w", err)
	}
	return f.Close()
}

// trimMetrics keeps the lines of epochs 1..epochs: a resumed run rewrites the epochs after its
// checkpoint, and must not leave their earlier lines behind. With unstop, a run that goes on
// training, it also removes the "stop" field of a finished run's last line (a finished run
// extended by --set train.epochs=N stops later).
func trimMetrics(path string, epochs int, unstop bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var keep bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var s EpochStats
		if json.Unmarshal(sc.Bytes(), &s) != nil || s.Epoch < 1 || s.Epoch > epochs {
			continue
		}
		if unstop && s.Stop != nil {
			s.Stop = nil
			line, err := json.Marshal(s)
			if err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
			keep.Write(line)
			keep.WriteByte('\n')
			continue
		}
		keep.Write(sc.Bytes())
		keep.WriteByte('\n')
	}
	if keep.Len() == len(data) {
		return nil
	}
	return atomicfile.WriteFile(path, keep.Bytes(), 0o644)
}

// ReadMetrics reads metrics.jsonl.
func ReadMetrics(path string) ([]EpochStats, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	var out []EpochStats
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var s EpochStats
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("metrics %s: %w", path, err)
		}
		out = append(out, s)
	}
	return out, nil
}
