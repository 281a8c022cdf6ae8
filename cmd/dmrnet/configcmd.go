package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print or check a configuration without training",
		Long: `Resolve a configuration the way train does (defaults, then the YAML file, then DMRNET_*
environment variables, then --set) and print it with every key, or only check it.`,
		Example: `  dmrnet config print --config configs/quickstart.yaml --set train.epochs=5
  dmrnet config validate --config configs/mfeat.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var file string
	var sets []string
	addFlags := func(c *cobra.Command) {
		c.Flags().StringVarP(&file, "config", "c", "", "YAML configuration file (defaults apply to keys it leaves out)")
		c.Flags().StringArrayVar(&sets, "set", nil, "override a configuration key, e.g. --set train.epochs=5 (repeatable)")
	}
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the fully resolved configuration as YAML",
		Long:  "Print the fully resolved configuration, defaults included, as the YAML that train saves as config.yaml.",
		Example: `  dmrnet config print
  dmrnet config print --config configs/avmnist.yaml --set variant=no-hcr`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(file, sets)
			if err != nil {
				return err
			}
			y, err := cfg.YAML()
			if err != nil {
				return err
			}
			_, err = a.out.Write(y)
			return err
		},
	}
	addFlags(print)
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration and exit with status 0 when it is valid",
		Long:  "Check a configuration (unknown keys, types, values) without reading data or training; exit status 2 and a one-line error when it is invalid.",
		Example: `  dmrnet config validate --config configs/mfeat.yaml
  dmrnet config validate --config my.yaml --set loss.beta=0.3`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(file, sets)
			if err != nil {
				return err
			}
			name := file
			if name == "" {
				name = "the default configuration"
			}
			fmt.Fprintf(a.out, "%s is valid (data %s, %d modalities, %d epochs, run directory %s)\n",
				name, cfg.Data.Kind, len(cfg.ModalityNames()), cfg.Train.Epochs, cfg.Out)
			return nil
		},
	}
	addFlags(validate)
	cmd.AddCommand(print, validate)
	return cmd
}
