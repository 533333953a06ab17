package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// A Fargate task in a public subnet has a public IPv4 address that the
// internet gateway maps 1:1 onto its private one; the task itself only sees
// the private address. SFU_PUBLIC_IP=ecs learns the public one from the
// task's own network interface: the ECS task metadata (v4) names the
// interface by its MAC address and private IP (it carries no ENI id), and
// ec2:DescribeNetworkInterfaces answers with the interface's public IP
// association. Nothing outside AWS is needed, unlike a STUN binding
// request, which SFU_PUBLIC_IP_FALLBACK may still name for when the lookup
// fails (e.g. SFU_PUBLIC_IP_FALLBACK=stun:stun.l.google.com:19302).
const (
	publicIPFromECS = "ecs"
	// eniWait bounds the wait for the public IP: an interface's address
	// association is eventually consistent in the EC2 API right after
	// the task starts.
	eniWait = 30 * time.Second
)

// resolvePublicIPs turns SFU_PUBLIC_IP (v) into the addresses to advertise,
// using SFU_PUBLIC_IP_FALLBACK when the primary source fails.
func resolvePublicIPs(ctx context.Context, v, region string, log *slog.Logger) ([]string, error) {
	ips, err := publicIPSource(ctx, v, region)
	if err == nil {
		return ips, nil
	}
	fallback := os.Getenv("SFU_PUBLIC_IP_FALLBACK")
	if fallback == "" || fallback == v {
		return nil, err
	}
	log.Warn("public IP lookup failed; using the fallback", "source", v, "fallback", fallback, "err", err)
	return publicIPSource(ctx, fallback, region)
}

func publicIPSource(ctx context.Context, v, region string) ([]string, error) {
	if v != publicIPFromECS {
		return publicIPs(ctx, v)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("SFU_PUBLIC_IP=ecs: aws config: %w", err)
	}
	ip, err := ecsPublicIP(ctx, os.Getenv("ECS_CONTAINER_METADATA_URI_V4"), ec2.NewFromConfig(cfg), eniWait)
	if err != nil {
		return nil, fmt.Errorf("SFU_PUBLIC_IP=ecs: %w", err)
	}
	return []string{ip}, nil
}

// interfaceLister is the one EC2 call the lookup makes.
type interfaceLister interface {
	DescribeNetworkInterfaces(context.Context, *ec2.DescribeNetworkInterfacesInput, ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
}

// ecsPublicIP finds this task's interface and returns its public IPv4,
// waiting up to wait for an association that is not visible yet.
func ecsPublicIP(ctx context.Context, metadataURI string, api interfaceLister, wait time.Duration) (string, error) {
	mac, privateIP, err := taskInterface(ctx, metadataURI)
	if err != nil {
		return "", err
	}
	in := &ec2.DescribeNetworkInterfacesInput{Filters: []ec2types.Filter{
		{Name: aws.String("mac-address"), Values: []string{mac}},
		{Name: aws.String("addresses.private-ip-address"), Values: []string{privateIP}},
	}}
	deadline := time.Now().Add(wait)
	for delay := 500 * time.Millisecond; ; delay = min(2*delay, 4*time.Second) {
		out, err := api.DescribeNetworkInterfaces(ctx, in)
		if err != nil {
			// The SDK has already retried what is worth retrying
			// (throttling, 5xx); a refusal will not change.
			return "", fmt.Errorf("ec2:DescribeNetworkInterfaces for %s (%s): %w", mac, privateIP, err)
		}
		ip, err := publicIPOf(out.NetworkInterfaces, mac, privateIP)
		if !errors.Is(err, errNotYet) || time.Now().Add(delay).After(deadline) {
			return ip, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(delay):
		}
	}
}

// errNotYet marks what a later look may find: the interface or its public
// IP association not visible yet.
var errNotYet = errors.New("not visible yet")

func publicIPOf(nics []ec2types.NetworkInterface, mac, privateIP string) (string, error) {
	switch {
	case len(nics) == 0:
		return "", fmt.Errorf("no network interface with MAC %s and private IP %s (%w)", mac, privateIP, errNotYet)
	case len(nics) > 1:
		return "", fmt.Errorf("%d network interfaces match MAC %s and private IP %s", len(nics), mac, privateIP)
	}
	nic := nics[0]
	if nic.Association == nil || nic.Association.PublicIp == nil {
		return "", fmt.Errorf("interface %s has no public IPv4 address (%w; is assignPublicIp on, in a public subnet?)", aws.ToString(nic.NetworkInterfaceId), errNotYet)
	}
	ip := aws.ToString(nic.Association.PublicIp)
	if parsed := net.ParseIP(ip); parsed == nil || parsed.To4() == nil {
		return "", fmt.Errorf("interface %s: public IP %q is not an IPv4 address", aws.ToString(nic.NetworkInterfaceId), ip)
	}
	return ip, nil
}

// taskInterface reads the container's awsvpc interface from the task
// metadata endpoint v4: its MAC address and private IPv4.
func taskInterface(ctx context.Context, metadataURI string) (mac, privateIP string, err error) {
	if metadataURI == "" {
		return "", "", errors.New("ECS_CONTAINER_METADATA_URI_V4 is not set: not an ECS task")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metadataURI, nil)
	if err != nil {
		return "", "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("task metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("task metadata: %s", resp.Status)
	}
	var meta struct {
		Networks []struct {
			NetworkMode   string
			IPv4Addresses []string
			MACAddress    string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		return "", "", fmt.Errorf("task metadata: %w", err)
	}
	for _, n := range meta.Networks {
		if n.NetworkMode == "awsvpc" && n.MACAddress != "" && len(n.IPv4Addresses) > 0 {
			return n.MACAddress, n.IPv4Addresses[0], nil
		}
	}
	return "", "", errors.New("task metadata names no awsvpc network interface")
}
