// Command dmrnet trains and evaluates multimodal classifiers that stay accurate when input
// modalities are missing, with the method of DMRNet (Wei et al., "Robust Multimodal Learning
// via Representation Decoupling", ECCV 2024).
package main

import "os"

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}
