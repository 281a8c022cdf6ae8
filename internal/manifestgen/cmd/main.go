// Command genmanifest writes a synthetic manifest data set (package manifestgen) for the
// data.stream measurements; see scripts/gen-manifest.sh.
//
//	go run ./internal/manifestgen/cmd -out /tmp/stream-data -samples 50000 -size 64
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/dmrnet/dmrnet/internal/manifestgen"
)

func main() {
	var s manifestgen.Spec
	out := flag.String("out", "", "directory to write manifest.csv, gray/ and rgb/ into")
	flag.IntVar(&s.Samples, "samples", 50000, "number of samples")
	flag.IntVar(&s.Classes, "classes", 10, "number of classes")
	flag.IntVar(&s.Size, "size", 64, "side of the square images")
	flag.IntVar(&s.TestEvery, "test-every", 5, "every n-th sample of each class is a test sample")
	flag.Float64Var(&s.MissingGray, "missing-gray", 0.1, "probability that a sample lacks its grey image")
	flag.Float64Var(&s.MissingRGB, "missing-rgb", 0.1, "probability that a sample lacks its RGB image")
	flag.Float64Var(&s.Noise, "noise", 40, "standard deviation of the pixel noise (grey levels)")
	flag.Uint64Var(&s.Seed, "seed", 1, "random seed")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "genmanifest: -out is required (the directory to write the data set into)")
		os.Exit(2)
	}
	path, err := manifestgen.Write(*out, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genmanifest:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
