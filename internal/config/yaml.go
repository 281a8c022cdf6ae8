package config

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// YAMLHeader is the first line of the YAML that Config.YAML writes.
const YAMLHeader = "# dmrnet resolved configuration\n"

// YAML returns the configuration as a YAML document with every key, after YAMLHeader. Load of
// a file holding it gives back an identical Config.
func (c Config) YAML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(YAMLHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("config: encoding YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: encoding YAML: %w", err)
	}
	return b.Bytes(), nil
}
