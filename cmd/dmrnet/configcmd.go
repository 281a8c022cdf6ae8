package main

import (
	"fmt"

	"go.yaml.in/yaml/v3"

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
	var file, printFormat, validateFormat string
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
			if err := checkFormat(printFormat, []string{"yaml", "json"}); err != nil {
				return err
			}
			cfg, err := a.loadConfig(file, sets)
			if err != nil {
				return err
			}
			y, err := cfg.YAML()
			if err != nil {
				return err
			}
			if printFormat == "json" {
				var m map[string]any
				if err := yaml.Unmarshal(y, &m); err != nil {
					return fmt.Errorf("config print: %w", err)
				}
				return printJSON(a.out, m)
			}
			_, err = a.out.Write(y)
			return err
		},
	}
	addFlags(print)
	print.Flags().StringVar(&printFormat, "format", "yaml", "output format: yaml or json (the same keys and values)")
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration and exit with status 0 when it is valid",
		Long:  "Check a configuration (unknown keys, types, values) without reading data or training; exit status 2 and a one-line error when it is invalid.",
		Example: `  dmrnet config validate --config configs/mfeat.yaml
  dmrnet config validate --config my.yaml --set loss.beta=0.3`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(validateFormat, textJSON); err != nil {
				return err
			}
			cfg, err := a.loadConfig(file, sets)
			if err != nil {
				return err
			}
			name := file
			if validateFormat == "json" {
				return printJSON(a.out, struct {
					File       string   `json:"file"`
					Valid      bool     `json:"valid"`
					Data       string   `json:"data"`
					Modalities []string `json:"modalities"`
					Epochs     int      `json:"epochs"`
					Out        string   `json:"out"`
				}{name, true, cfg.Data.Kind, cfg.ModalityNames(), cfg.Train.Epochs, cfg.Out})
			}
			if name == "" {
				name = "the default configuration"
			}
			fmt.Fprintf(a.out, "%s is valid (data %s, %d modalities, %d epochs, run directory %s)\n",
				name, cfg.Data.Kind, len(cfg.ModalityNames()), cfg.Train.Epochs, cfg.Out)
			return nil
		},
	}
	addFlags(validate)
	validate.Flags().StringVar(&validateFormat, "format", "text", "output format: text or json (an invalid configuration is still a one-line error on stderr and exit status 2)")
	cmd.AddCommand(print, validate)
	return cmd
}
