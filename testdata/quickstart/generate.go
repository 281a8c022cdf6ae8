//go:build ignore

// generate writes new frames for the quick start's predict example: the first 8 samples of
// the quick-start test split (configs/quickstart.yaml, synthetic seed 0) as a rig whose depth
// camera has died would record them: rgb.csv and ir.csv hold the cameras' raw features, one
// row per frame, and frame 4's rgb row is empty (that camera dropped the frame too);
// labels.csv holds the true classes, for eval --view.
//
//	go run testdata/quickstart/generate.go
package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
)

const dir = "testdata/quickstart"

func main() {
	cfg, err := config.Load(config.LoadOptions{File: "configs/quickstart.yaml", Environ: []string{}})
	if err != nil {
		log.Fatal(err)
	}
	s := cfg.Data.Synthetic
	spec := dataset.SyntheticSpec{Seed: uint64(s.Seed), Classes: s.Classes, ClassNames: s.ClassNames, Train: s.Train, Test: s.Test}
	for _, m := range s.Modalities {
		spec.Modalities = append(spec.Modalities, dataset.SyntheticModality{Name: m.Name, Dim: m.Dim, Signal: m.Signal})
	}
	ds, err := dataset.Synthetic(spec)
	if err != nil {
		log.Fatal(err)
	}
	files := map[int]*strings.Builder{0: {}, 2: {}} // rgb, ir
	var labels strings.Builder
	for i := 0; i < 8; i++ {
		for m, b := range files {
			size := ds.Modalities[m].Size()
			if !(m == 0 && i == 3) {
				for j, v := range ds.Test.X[m][i*size : (i+1)*size] {
					if j > 0 {
						b.WriteByte(',')
					}
					b.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
				}
			}
			b.WriteByte('\n')
		}
		fmt.Fprintln(&labels, ds.Classes[ds.Test.Y[i]])
	}
	for name, content := range map[string]string{"rgb.csv": files[0].String(), "ir.csv": files[2].String(), "labels.csv": labels.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
