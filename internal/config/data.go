package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

func (c *Config) validateTable() error {
	t := &c.Data.Table
	if len(t.Views) == 0 {
		return invalid("data.table.views", "empty (list each view as {name: NAME, file: FILE})")
	}
	if len(t.Views) > MaxModalities {
		return invalid("data.table.views", "%d views (at most %d are supported)", len(t.Views), MaxModalities)
	}
	seen := map[string]bool{}
	for i, v := range t.Views {
		key := fmt.Sprintf("data.table.views[%d]", i)
		if err := checkModalityName(key+".name", v.Name); err != nil {
			return err
		}
		if seen[v.Name] {
			return invalid(key+".name", "%q is used twice (give every view its own name)", v.Name)
		}
		seen[v.Name] = true
		if v.File == "" {
			return invalid(key+".file", "empty (give the view's CSV or NPY file, relative to data.root)")
		}
		if err := checkFormat(key+".format", v.Format, v.File); err != nil {
			return err
		}
	}
	if t.Labels == "" {
		return invalid("data.table.labels", "empty (give the file of class indices, one per row)")
	}
	if err := checkClassNames("data.table.class_names", t.ClassNames); err != nil {
		return err
	}
	if t.SplitFile == "" {
		return checkFloat("data.table.test_fraction", t.TestFraction, "in (0, 0.9], or give data.table.split_file",
			t.TestFraction > 0 && t.TestFraction <= 0.9)
	}
	return nil
}

func checkFormat(key, format, file string) error {
	switch format {
	case "csv", "npy":
		return nil
	case "":
		switch strings.ToLower(filepath.Ext(file)) {
		case ".csv", ".npy":
			return nil
		}
		return invalid(key, "empty and %q has neither a .csv nor a .npy extension (set the format to csv or npy)", file)
	}
	return oneOf(key, format, "csv", "npy")
}

func checkClassNames(key string, names []string) error {
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" {
			return invalid(fmt.Sprintf("%s[%d]", key, i), "empty class name")
		}
		if seen[n] {
			return invalid(key, "class %q is listed twice", n)
		}
		seen[n] = true
	}
	if len(names) == 1 {
		return invalid(key, "a single class (a classifier needs at least 2)")
	}
	if len(names) > MaxClasses {
		return invalid(key, "%d classes; at most %d are supported", len(names), MaxClasses)
	}
	return nil
}

func (c *Config) validateAVMNIST() error {
	a := &c.Data.AVMNIST
	if a.Audio == "" || a.MNIST == "" {
		return invalid("data.avmnist", "audio and mnist must name the FSDD recordings and MNIST directories (relative to data.root)")
	}
	if err := checkInt("data.avmnist.test_max_take", a.TestMaxTake, ">= 0", a.TestMaxTake >= 0); err != nil {
		return err
	}
	return validateMel("data.avmnist.mel", &a.Mel)
}

func validateMel(key string, m *MelAudio) error {
	if *m == (MelAudio{}) {
		*m = DefaultMel()
	}
	return firstError(
		checkInt(key+".sample_rate", m.SampleRate, ">= 1", m.SampleRate >= 1),
		checkInt(key+".n_fft", m.NFFT, ">= 2", m.NFFT >= 2),
		checkInt(key+".samples", m.Samples, fmt.Sprintf(">= n_fft, %d", m.NFFT), m.Samples >= m.NFFT),
		checkInt(key+".hop", m.Hop, ">= 1", m.Hop >= 1),
		checkInt(key+".mels", m.Mels, ">= 1", m.Mels >= 1),
		checkFloat(key+".fmin", m.FMin, ">= 0", m.FMin >= 0 && finite(m.FMin)),
		checkFloat(key+".fmax", m.FMax, fmt.Sprintf("in (fmin, sample_rate/2] = (%g, %g]", m.FMin, float64(m.SampleRate)/2),
			m.FMax > m.FMin && m.FMax <= float64(m.SampleRate)/2),
	)
}

func (c *Config) validateManifest() error {
	mf := &c.Data.Manifest
	if mf.File == "" {
		return invalid("data.manifest.file", "empty (give the manifest CSV, relative to data.root)")
	}
	for _, col := range []struct{ key, v string }{
		{"data.manifest.id_column", mf.IDColumn}, {"data.manifest.label_column", mf.LabelColumn}, {"data.manifest.split_column", mf.SplitColumn},
	} {
		if col.v == "" {
			return invalid(col.key, "empty (name the manifest column)")
		}
	}
	if err := checkClassNames("data.manifest.class_names", mf.ClassNames); err != nil {
		return err
	}
	if len(mf.Modalities) == 0 {
		return invalid("data.manifest.modalities", "empty (list each modality as {name: NAME, type: image|audio|npy, ...})")
	}
	if len(mf.Modalities) > MaxModalities {
		return invalid("data.manifest.modalities", "%d modalities (at most %d are supported)", len(mf.Modalities), MaxModalities)
	}
	seen := map[string]bool{}
	for i := range mf.Modalities {
		m := &mf.Modalities[i]
		key := fmt.Sprintf("data.manifest.modalities[%d]", i)
		if err := checkModalityName(key+".name", m.Name); err != nil {
			return err
		}
		if seen[m.Name] {
			return invalid(key+".name", "%q is used twice (give every modality its own name)", m.Name)
		}
		seen[m.Name] = true
		switch m.Type {
		case "image":
			if err := firstError(
				checkInt(key+".channels", m.Channels, "1 or 3", m.Channels == 1 || m.Channels == 3),
				checkInt(key+".height", m.Height, ">= 1", m.Height >= 1),
				checkInt(key+".width", m.Width, ">= 1", m.Width >= 1),
			); err != nil {
				return err
			}
			if len(m.Mean) == 0 {
				m.Mean = make([]float64, m.Channels)
			}
			if len(m.Std) == 0 {
				m.Std = make([]float64, m.Channels)
				for j := range m.Std {
					m.Std[j] = 1
				}
			}
			if len(m.Mean) != m.Channels || len(m.Std) != m.Channels {
				return invalid(key, "mean and std need one value per channel (%d), got %d and %d", m.Channels, len(m.Mean), len(m.Std))
			}
			for j, s := range m.Std {
				if err := checkFloat(fmt.Sprintf("%s.std[%d]", key, j), s, "> 0", s > 0 && finite(s)); err != nil {
					return err
				}
			}
		case "audio":
			if err := validateMel(key+".mel", &m.Mel); err != nil {
				return err
			}
		case "npy":
			if len(m.Shape) == 0 {
				return invalid(key+".shape", "empty (give the shape of each file's array, e.g. [64] or [1, 32, 32])")
			}
			for j, d := range m.Shape {
				if err := checkInt(fmt.Sprintf("%s.shape[%d]", key, j), d, ">= 1", d >= 1); err != nil {
					return err
				}
			}
		default:
			return oneOf(key+".type", m.Type, "image", "audio", "npy")
		}
	}
	return nil
}
