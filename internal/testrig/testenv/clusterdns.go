package testenv

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// clusterDNS answers what CoreDNS answers for Services on a real cluster, and no more:
// A records for <service>.<namespace>.svc.<ClusterDomain> (the Service's ClusterIP),
// NXDOMAIN for other names. Pods get it as their nameserver (kubelet clusterDNS), so a
// URL such as the chart's http://aias-internal.aias-system.svc:8082 resolves in a step
// pod as it does on EKS, GKE or AKS. CoreDNS is a cluster add-on; this stands in for it.
//
// Like CoreDNS it answers queries concurrently and caches what it looked up for the
// records' TTL: answering one query at a time with an apiserver read each, 20 step Pods
// starting at once (each resolving the internal step API, A and AAAA) overflowed its
// socket, and a dropped query costs a Go resolver 5 s (seen in the real-node bench: one
// step of 20 took 10 s in step-run, where its neighbours took under one).
type clusterDNS struct {
	conn   net.PacketConn
	client client.Client

	mu    sync.Mutex
	cache map[string]cachedIP // fqdn → ClusterIP (nil: no such Service)
	busy  chan struct{}       // bounds the queries answered at once
}

type cachedIP struct {
	ip      net.IP
	expires time.Time
}

// dnsTTL is the TTL of the answers and how long a lookup is cached.
const dnsTTL = 5 * time.Second

func startClusterDNS(c client.Client, addr string) (*clusterDNS, error) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	d := &clusterDNS{conn: conn, client: c, cache: map[string]cachedIP{}, busy: make(chan struct{}, 64)}
	go d.serve()
	return d, nil
}

func (d *clusterDNS) Close() { _ = d.conn.Close() }

func (d *clusterDNS) serve() {
	for {
		buf := make([]byte, 1500)
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		d.busy <- struct{}{}
		go func() {
			defer func() { <-d.busy }()
			if resp := d.answer(buf[:n]); resp != nil {
				_, _ = d.conn.WriteTo(resp, from)
			}
		}()
	}
}

func (d *clusterDNS) answer(req []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	resp := dnsmessage.Message{Header: dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}, Questions: []dnsmessage.Question{q}}
	ip := d.lookup(q.Name.String())
	switch {
	case ip == nil:
		resp.RCode = dnsmessage.RCodeNameError
	case q.Type == dnsmessage.TypeA:
		var a [4]byte
		copy(a[:], ip.To4())
		resp.Answers = []dnsmessage.Resource{{
			Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: uint32(dnsTTL / time.Second)},
			Body:   &dnsmessage.AResource{A: a},
		}}
	}
	out, err := resp.Pack()
	if err != nil {
		return nil
	}
	return out
}

// lookup is the ClusterIP of the Service a name names, nil when it names none.
func (d *clusterDNS) lookup(fqdn string) net.IP {
	suffix := ".svc." + ClusterDomain + "."
	name := strings.ToLower(fqdn)
	if !strings.HasSuffix(name, suffix) {
		return nil
	}
	parts := strings.Split(strings.TrimSuffix(name, suffix), ".")
	if len(parts) != 2 {
		return nil
	}
	d.mu.Lock()
	c, ok := d.cache[name]
	d.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c.ip
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	svc := &corev1.Service{}
	var ip net.IP
	if err := d.client.Get(ctx, client.ObjectKey{Namespace: parts[1], Name: parts[0]}, svc); err == nil {
		ip = net.ParseIP(svc.Spec.ClusterIP).To4()
	} else if !apierrors.IsNotFound(err) {
		return nil // not cached: the next query asks again
	}
	d.mu.Lock()
	d.cache[name] = cachedIP{ip: ip, expires: time.Now().Add(dnsTTL)}
	d.mu.Unlock()
	return ip
}
