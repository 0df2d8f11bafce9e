package pipeline

import (
	"fmt"
	"strings"
)

// Describe lists the effective configuration as NAME=VALUE lines in the
// order of the table, each with where its value came from, secrets shown
// as ***; then Airflow's own settings from .env, and the warnings.
func Describe(c Config) string {
	var b strings.Builder
	for _, v := range Variables() {
		val := c.value(v)
		if v.Secret != "" && val != "" {
			val = "***"
		}
		fmt.Fprintf(&b, "%s=%s  # %s\n", v.Name, val, c.Origin[v.Name])
	}
	for _, name := range sortedKeys(c.AirflowSettings) {
		fmt.Fprintf(&b, "%s=%s  # .env, passed to Airflow\n", name, c.AirflowSettings[name])
	}
	for _, name := range sortedKeys(c.AirflowSecrets) {
		fmt.Fprintf(&b, "%s=***  # .env, passed to Airflow as a secret\n", name)
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(&b, "# warning: %s\n", w)
	}
	return b.String()
}
