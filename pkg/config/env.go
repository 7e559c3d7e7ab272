package config

import (
	"fmt"
	"sort"
)

// CheckEnv reports the first secret the file names by environment variable
// (a *_env field or a workspace's env_from) whose variable is empty, with the
// field's line. `driftgate run` calls it before it starts anything, so a
// missing secret is one line and nothing half-started.
func (f *File) CheckEnv(getenv func(string) string) error {
	check := func(path, name, what string) error {
		if name != "" && getenv(name) == "" {
			return f.errf(path, "environment variable %s is empty; it must hold %s", name, what)
		}
		return nil
	}
	if err := check("nats.token_env", f.NATS.TokenEnv, "the NATS token"); err != nil {
		return err
	}
	if f.NATS.User != "" {
		if err := check("nats.password_env", f.NATS.PasswordEnv, "the NATS password of "+f.NATS.User); err != nil {
			return err
		}
	}
	for i, s := range f.Notify.Sinks {
		p := fmt.Sprintf("notify.sinks[%d]", i)
		if s.Slack != nil {
			if err := check(p+".slack.webhook_url_env", s.Slack.WebhookURLEnv, "the Slack incoming webhook URL"); err != nil {
				return err
			}
		}
		if s.Webhook != nil {
			if err := check(p+".webhook.secret_env", s.Webhook.SecretEnv, "the webhook signing secret"); err != nil {
				return err
			}
		}
	}
	if err := f.checkConsoleEnv(check); err != nil {
		return err
	}
	for i, w := range f.Workspaces {
		if err := f.checkSourceEnv(i, w, check); err != nil {
			return err
		}
		keys := make([]string, 0, len(w.EnvFrom))
		for k := range w.EnvFrom {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := fmt.Sprintf("workspaces[%d].env_from.%s", i, k)
			if err := check(p, w.EnvFrom[k], k+" for workspace "+w.Name); err != nil {
				return err
			}
		}
	}
	return nil
}
