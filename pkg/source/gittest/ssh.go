package gittest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSH serves the same repository over SSH on loopback: golang.org/x/crypto's
// SSH server in front of the real `git upload-pack`, with public-key auth
// for clientKey only. It returns the repository's ssh:// URL and the
// known_hosts line of the server's host key; it stops with the test.
func (s *Server) SSH(t testing.TB, clientKey ssh.PublicKey) (url, knownHostsLine string) {
	t.Helper()
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), clientKey.Marshal()) {
			return nil, nil
		}
		s.denied.Add(1)
		return nil, errors.New("gittest: unknown public key")
	}}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serveSSH(c, cfg)
		}
	}()
	addr := ln.Addr().String()
	return "ssh://git@" + addr + "/repo.git", knownhosts.Line([]string{knownhosts.Normalize(addr)}, signer.PublicKey())
}

func (s *Server) serveSSH(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, creqs)
	}
}

// session runs one `git-upload-pack '<path>'` exec request; pushes and
// anything else are refused.
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "env":
			_ = req.Reply(true, nil)
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			cmd, arg, _ := strings.Cut(p.Command, " ")
			repo := path.Base(strings.Trim(arg, `'"`))
			if cmd != "git-upload-pack" || repo != "repo.git" {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			s.lists.Add(1)
			status := s.uploadPack(ch, filepath.Join(s.root, repo))
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

func (s *Server) uploadPack(ch ssh.Channel, dir string) uint32 {
	x := exec.Command("git", "upload-pack", dir)
	x.Stdout, x.Stderr = ch, ch.Stderr()
	in, err := x.StdinPipe()
	if err != nil {
		return 1
	}
	if err := x.Start(); err != nil {
		fmt.Fprintf(ch.Stderr(), "gittest: %v\n", err)
		return 1
	}
	go func() { _, _ = io.Copy(in, ch); _ = in.Close() }()
	if err := x.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return uint32(ee.ExitCode())
		}
		return 1
	}
	return 0
}
