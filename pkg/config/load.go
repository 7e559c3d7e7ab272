package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a config problem at a place in the file.
type Error struct {
	File   string
	Line   int
	Column int
	Path   string // field path: workspaces[0].binary
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

type positions map[string][2]int

// Load reads, strictly decodes and validates a config file.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	f, err := Parse(path, b)
	if err != nil {
		return nil, err
	}
	if err := f.checkDirs(); err != nil {
		return nil, err
	}
	return f, nil
}

// Parse strictly decodes and validates config text; name is used in errors.
func Parse(name string, b []byte) (*File, error) {
	f := &File{Path: name, pos: positions{}}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, errEOF(err)) {
			return nil, &Error{File: name, Msg: "file is empty"}
		}
		return nil, &Error{File: name, Line: yamlErrLine(err), Msg: yamlErrMsg(err)}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if err := check(name, doc, reflect.TypeOf(File{}), "", f.pos); err != nil {
		return nil, err
	}
	if err := doc.Decode(f); err != nil {
		return nil, &Error{File: name, Line: yamlErrLine(err), Msg: yamlErrMsg(err)}
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	f.ApplyDefaults()
	return f, nil
}

func errEOF(err error) error {
	if err != nil && err.Error() == "EOF" {
		return err
	}
	return errors.New("not eof")
}

var yamlLine = regexp.MustCompile(`^line (\d+):\s*`)

func yamlErrLine(err error) int {
	s := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: "), "unmarshal errors:\n  ")
	if m := yamlLine.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func yamlErrMsg(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.TrimPrefix(s, "unmarshal errors:\n  ")
	// The leading "line N:" becomes the Error's Line; a line the message
	// refers to ("already defined at line 2") stays in it.
	s = yamlLine.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, "\n", "; ")
}

var unmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// check walks the YAML tree against the Go type, rejecting unknown fields and
// values of the wrong kind, and records where every field path is.
func check(file string, n *yaml.Node, t reflect.Type, path string, pos positions) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	pos[path] = [2]int{n.Line, n.Column}
	fail := func(format string, a ...any) error {
		return &Error{File: file, Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, a...)}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshaler) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return fail("%s", yamlErrMsg(err))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fail("expected a mapping, got %s", describe(n))
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name != "" && name != "-" && sf.IsExported() {
				fields[name] = sf.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			sub := join(path, k.Value)
			if !ok {
				hint := ""
				if strings.HasSuffix(k.Value, "_url") || strings.Contains(k.Value, "secret") || strings.Contains(k.Value, "password") || strings.Contains(k.Value, "token") || strings.Contains(k.Value, "key") || k.Value == "known_hosts" {
					if _, ok := fields[k.Value+"_env"]; ok {
						hint = fmt.Sprintf(" (secrets come from the environment: use %s_env)", k.Value)
					}
				}
				return &Error{File: file, Line: k.Line, Column: k.Column, Path: sub, Msg: "unknown field" + hint}
			}
			if err := check(file, v, ft, sub, pos); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fail("expected a list, got %s", describe(n))
		}
		for i, c := range n.Content {
			if err := check(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), pos); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fail("expected a mapping, got %s", describe(n))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := check(file, n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), pos); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return fail("expected a string, got %s", describe(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return fail("expected true or false, got %s", describe(n))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return fail("expected an integer, got %s", describe(n))
		}
	}
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	typeRE = regexp.MustCompile(`^(\*|[a-z]+(\.[a-z*]+)?)$`)
	resRE  = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9.-]+)?$`)
)

func (f *File) errf(path, format string, a ...any) error {
	p := f.pos[path]
	return &Error{File: f.Path, Line: p[0], Column: p[1], Path: path, Msg: fmt.Sprintf(format, a...)}
}

func (f *File) validate() error {
	n := f.NATS
	if n.URL != "" {
		u, err := url.Parse(n.URL)
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return f.errf("nats.url", "%q is not a NATS URL (nats://host:port)", n.URL)
		}
	}
	for _, p := range []struct{ path, v string }{{"nats.password_env", n.PasswordEnv}, {"nats.token_env", n.TokenEnv}, {"importer.approver_token_env", f.Importer.ApproverEnv}} {
		if p.v != "" && !envRE.MatchString(p.v) {
			return f.errf(p.path, "%q is not an environment variable name", p.v)
		}
	}
	if n.StreamReplicas < 0 || n.StreamReplicas > 5 {
		return f.errf("nats.stream_replicas", "must be between 1 and 5")
	}
	clusters := map[string]bool{}
	for i, c := range f.Clusters {
		p := fmt.Sprintf("clusters[%d]", i)
		if !nameRE.MatchString(c.Name) {
			return f.errf(p+".name", "%q is not a valid name (lowercase letters, digits, - and _)", c.Name)
		}
		if clusters[c.Name] {
			return f.errf(p+".name", "cluster %q is defined twice", c.Name)
		}
		clusters[c.Name] = true
	}
	for i, r := range f.Watch.Resources {
		if r == "auto" && len(f.Watch.Resources) == 1 {
			continue
		}
		if !resRE.MatchString(r) {
			return f.errf(fmt.Sprintf("watch.resources[%d]", i), "%q is not a resource as kubectl names it (deployments.apps, configmaps) or auto", r)
		}
	}
	if f.Watch.Workers < 0 {
		return f.errf("watch.workers", "%d: must not be negative (0: the default)", f.Watch.Workers)
	}
	if n := f.Planner.MaxConcurrentPlans; n < 0 {
		return f.errf("planner.max_concurrent_plans", "%d: must not be negative (0: the default, one per CPU)", n)
	}
	if f.Watch.ProbeFailures < 0 {
		return f.errf("watch.probe_failures", "must not be negative")
	}
	names := map[string]bool{}
	for i, w := range f.Workspaces {
		p := fmt.Sprintf("workspaces[%d]", i)
		if !nameRE.MatchString(w.Name) {
			return f.errf(p+".name", "%q is not a valid name (lowercase letters, digits, - and _)", w.Name)
		}
		if names[w.Name] {
			return f.errf(p+".name", "workspace %q is defined twice", w.Name)
		}
		names[w.Name] = true
		if err := f.validateSource(p, w); err != nil {
			return err
		}
		if w.Cluster != "" && !clusters[w.Cluster] {
			return f.errf(p+".cluster", "cluster %q is not defined under clusters", w.Cluster)
		}
		if w.Cluster == "" && len(f.Clusters) > 1 {
			return f.errf(p+".cluster", "required when several clusters are defined")
		}
		switch a := w.Import.Approval; a {
		case "", ApprovalManual, ApprovalAuto, ApprovalAutoLowRisk:
		default:
			return f.errf(p+".import.approval", "%q is not manual, auto or auto-low-risk", a)
		}
		for k, v := range w.EnvFrom {
			if !envRE.MatchString(k) || !envRE.MatchString(v) {
				return f.errf(p+".env_from."+k, "%s: %q must map a variable name to a variable name", k, v)
			}
		}
		for j, r := range w.Ignore {
			if r.Resource == "" && len(r.Paths) == 0 && len(r.Managers) == 0 {
				return f.errf(fmt.Sprintf("%s.ignore[%d]", p, j), "an ignore rule needs resource, paths or managers")
			}
		}
	}
	sinks := map[string]bool{}
	for i, s := range f.Notify.Sinks {
		p := fmt.Sprintf("notify.sinks[%d]", i)
		if !nameRE.MatchString(s.Name) {
			return f.errf(p+".name", "%q is not a valid name (lowercase letters, digits, - and _)", s.Name)
		}
		if sinks[s.Name] {
			return f.errf(p+".name", "sink %q is defined twice", s.Name)
		}
		sinks[s.Name] = true
		switch {
		case (s.Slack == nil) == (s.Webhook == nil):
			return f.errf(p, "set exactly one of slack and webhook")
		case s.Slack != nil && !envRE.MatchString(s.Slack.WebhookURLEnv):
			return f.errf(p+".slack.webhook_url_env", "%q is not an environment variable name", s.Slack.WebhookURLEnv)
		case s.Webhook != nil:
			u, err := url.Parse(s.Webhook.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return f.errf(p+".webhook.url", "%q is not an http(s) URL", s.Webhook.URL)
			}
			if !envRE.MatchString(s.Webhook.SecretEnv) {
				return f.errf(p+".webhook.secret_env", "%q is not an environment variable name (the signing secret comes from the environment)", s.Webhook.SecretEnv)
			}
		}
		if s.MaxAttempts < 0 || s.RatePerMin < 0 {
			return f.errf(p, "max_attempts and rate_per_minute must not be negative")
		}
		if s.BackoffMin.Duration > 0 && s.BackoffMax.Duration > 0 && s.BackoffMin.Duration > s.BackoffMax.Duration {
			return f.errf(p+".backoff_min", "%s is longer than backoff_max %s", s.BackoffMin, s.BackoffMax)
		}
	}
	for i, r := range f.Notify.Routes {
		p := fmt.Sprintf("notify.routes[%d]", i)
		if len(r.Sinks) == 0 {
			return f.errf(p+".sinks", "a route needs at least one sink")
		}
		for j, s := range r.Sinks {
			if !sinks[s] {
				return f.errf(fmt.Sprintf("%s.sinks[%d]", p, j), "sink %q is not defined under notify.sinks", s)
			}
		}
		for j, t := range r.Match.Types {
			if !typeRE.MatchString(t) {
				return f.errf(fmt.Sprintf("%s.match.types[%d]", p, j), "%q is not an event type such as drift.detected, import.* or *", t)
			}
		}
		if m := r.Match.MinRisk; m != "" && m != "low" && m != "high" {
			return f.errf(p+".match.min_risk", "%q is not low or high", m)
		}
		if m := r.Match.MinSeverity; m != "" && m != "info" && m != "warning" && m != "critical" {
			return f.errf(p+".match.min_severity", "%q is not info, warning or critical", m)
		}
	}
	return f.validateConsole()
}

// Workspace returns the named workspace.
func (f *File) Workspace(name string) (*Workspace, error) {
	for i := range f.Workspaces {
		if f.Workspaces[i].Name == name {
			return &f.Workspaces[i], nil
		}
	}
	return nil, fmt.Errorf("workspace %q is not in %s", name, f.Path)
}

// Cluster returns the named cluster ("" picks the only one).
func (f *File) Cluster(name string) (*Cluster, error) {
	if name == "" && len(f.Clusters) == 1 {
		return &f.Clusters[0], nil
	}
	for i := range f.Clusters {
		if f.Clusters[i].Name == name {
			return &f.Clusters[i], nil
		}
	}
	return nil, fmt.Errorf("cluster %q is not in %s", name, f.Path)
}

// ResolveDir returns a workspace dir relative to the config file's directory.
func (f *File) ResolveDir(dir string) string {
	if filepath.IsAbs(dir) || f.Path == "" {
		return dir
	}
	return filepath.Join(filepath.Dir(f.Path), dir)
}
