// Package natsembed starts an in-process nats-server with JetStream: the
// server `driftgate run` embeds when no --nats-url is given, and the one tests
// run against.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options for an embedded server.
type Options struct {
	// Listen is host:port for clients; port -1 picks a free one.
	Listen string
	// StoreDir holds JetStream's files.
	StoreDir string
	// Token, when set, is required from every client.
	Token string
	// Users, when set, are the accounts clients log in with (name → password).
	Users map[string]string
	// Name of the server; default "driftgate".
	Name string
}

// Start starts the server and waits until it accepts connections.
func Start(o Options) (*server.Server, error) {
	host, port := "127.0.0.1", 4222
	if o.Listen != "" {
		h, p, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen address %q: %w", o.Listen, err)
		}
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("listen address %q: port: %w", o.Listen, err)
		}
		if h != "" {
			host = h
		}
	}
	if o.StoreDir == "" {
		return nil, errors.New("embedded nats: store dir is empty")
	}
	if o.Name == "" {
		o.Name = "driftgate"
	}
	opts := &server.Options{
		ServerName:         o.Name,
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		NoSigs:             true,
		NoLog:              true,
		Authorization:      o.Token,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	for name, pw := range o.Users {
		opts.Users = append(opts.Users, &server.User{Username: name, Password: pw})
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready on %s:%d within 15s (port in use?)", host, port)
	}
	return s, nil
}
