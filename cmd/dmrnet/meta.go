package main

import (
	"fmt"

	"github.com/dmrnet/dmrnet/internal/buildinfo"
	"github.com/spf13/cobra"
)

func (a *app) newVersionCmd() *cobra.Command {
	format := "text"
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print dmrnet's version, commit and Go version",
		Long:    "Print the module version and VCS commit dmrnet was built from (from the build information Go embeds), and the Go version.",
		Example: "  dmrnet version\n  dmrnet version --format json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, textJSON); err != nil {
				return err
			}
			if format == "json" {
				return printJSON(a.out, buildinfo.Read())
			}
			fmt.Fprintln(a.out, versionString())
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", format, "output format: text or json (version, revision, time, modified, go)")
	return cmd
}

// versionString describes the build: module version, commit (marked when the tree had
// uncommitted changes), commit time and Go version.
func versionString() string { return buildinfo.Read().String() }

// newCompletionCmd replaces Cobra's default completion command with one whose help carries
// examples like every other command's.
func (a *app) newCompletionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print the script that makes the shell complete dmrnet's commands and flags.
Load it in the current shell, or install it as your shell's documentation describes.`,
		Example: `  source <(dmrnet completion bash)
  dmrnet completion zsh > "${fpath[1]}/_dmrnet"
  dmrnet completion fish > ~/.config/fish/completions/dmrnet.fish`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.out, true)
			case "zsh":
				return root.GenZshCompletion(a.out)
			case "fish":
				return root.GenFishCompletion(a.out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(a.out)
			}
			return usagef("completion %s: unknown shell (want bash, zsh, fish or powershell)", args[0])
		},
	}
	return cmd
}
