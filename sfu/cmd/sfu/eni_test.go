package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

const (
	taskMAC       = "0e:9e:32:c7:48:85"
	taskPrivateIP = "10.10.3.7"
)

// fakeMetadata serves the container metadata (v4) of a Fargate task whose
// one awsvpc interface has the given MAC and private IP.
func fakeMetadata(t *testing.T, mac, ip string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v4/abc-123" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"DockerId":"abc-123","Name":"sfu","Networks":[{"NetworkMode":"awsvpc",
			"IPv4Addresses":[%q],"AttachmentIndex":0,"MACAddress":%q,"IPv4SubnetCIDRBlock":"10.10.0.0/20",
			"PrivateDNSName":"ip-10-10-3-7.ec2.internal","SubnetGatewayIpv4Address":"10.10.0.1/20"}]}`, ip, mac)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v4/abc-123"
}

// fakeEC2 answers DescribeNetworkInterfaces in the EC2 query protocol for
// the interfaces it holds (MAC+private IP → public IP, "" = none), and
// refuses unsigned requests and other actions the way EC2 does.
type fakeEC2 struct {
	mu      sync.Mutex
	public  map[string]string // "mac ip" → public IP
	deny    bool
	calls   int
	filters []string // of the last call
}

func (f *fakeEC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fail := func(status int, code, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>req-1</RequestID></Response>`, code, msg)
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(auth, "/us-east-1/ec2/aws4_request") {
		fail(http.StatusUnauthorized, "AuthFailure", "unsigned or wrongly scoped request: "+auth)
		return
	}
	if r.PostForm.Get("Action") != "DescribeNetworkInterfaces" {
		fail(http.StatusBadRequest, "InvalidAction", "unexpected action "+r.PostForm.Get("Action"))
		return
	}
	if f.deny {
		fail(http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation.")
		return
	}
	f.filters = nil
	values := map[string]string{}
	for i := 1; r.PostForm.Get(fmt.Sprintf("Filter.%d.Name", i)) != ""; i++ {
		name, value := r.PostForm.Get(fmt.Sprintf("Filter.%d.Name", i)), r.PostForm.Get(fmt.Sprintf("Filter.%d.Value.1", i))
		f.filters = append(f.filters, name+"="+value)
		values[name] = value
	}
	mac, ip := values["mac-address"], values["addresses.private-ip-address"]
	items := ""
	if pub, ok := f.public[mac+" "+ip]; ok {
		assoc := ""
		if pub != "" {
			assoc = "<association><publicIp>" + pub + "</publicIp><ipOwnerId>amazon</ipOwnerId></association>"
		}
		items = fmt.Sprintf(`<item><networkInterfaceId>eni-0a1b2c3d</networkInterfaceId><macAddress>%s</macAddress>
			<privateIpAddress>%s</privateIpAddress>%s<status>in-use</status></item>`, mac, ip, assoc)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<requestId>req-2</requestId><networkInterfaceSet>%s</networkInterfaceSet></DescribeNetworkInterfacesResponse>`, items)
}

func (f *fakeEC2) start(t *testing.T) string {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

// awsEnv points the SDK's default configuration at the fake EC2 endpoint
// with static credentials, and away from anything on this machine.
func awsEnv(t *testing.T, ec2URL string) {
	t.Setenv("AWS_ENDPOINT_URL_EC2", ec2URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// The public IP comes from the task's own interface, found by the MAC and
// private IP the task metadata gives, through the real SDK.
func TestPublicIPFromTaskInterface(t *testing.T) {
	ec := &fakeEC2{public: map[string]string{taskMAC + " " + taskPrivateIP: "203.0.113.7"}}
	awsEnv(t, ec.start(t))
	t.Setenv("ECS_CONTAINER_METADATA_URI_V4", fakeMetadata(t, taskMAC, taskPrivateIP))
	t.Setenv("SFU_PUBLIC_IP_FALLBACK", "")

	ips, err := resolvePublicIPs(context.Background(), "ecs", "us-east-1", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ips, []string{"203.0.113.7"}) {
		t.Fatalf("public IPs %v, want the interface's 203.0.113.7", ips)
	}
	want := []string{"mac-address=" + taskMAC, "addresses.private-ip-address=" + taskPrivateIP}
	if !reflect.DeepEqual(ec.filters, want) || ec.calls != 1 {
		t.Errorf("%d calls, filters %v, want one call with %v", ec.calls, ec.filters, want)
	}
}

// A refused lookup (no IAM permission) fails the start with a message that
// names the call, unless a fallback is configured.
func TestPublicIPLookupRefusedUsesFallback(t *testing.T) {
	ec := &fakeEC2{deny: true}
	awsEnv(t, ec.start(t))
	t.Setenv("ECS_CONTAINER_METADATA_URI_V4", fakeMetadata(t, taskMAC, taskPrivateIP))

	t.Setenv("SFU_PUBLIC_IP_FALLBACK", "")
	_, err := resolvePublicIPs(context.Background(), "ecs", "us-east-1", slog.Default())
	if err == nil || !strings.Contains(err.Error(), "ec2:DescribeNetworkInterfaces") || !strings.Contains(err.Error(), "UnauthorizedOperation") {
		t.Fatalf("refused lookup: %v, want an error naming the call and the refusal", err)
	}

	t.Setenv("SFU_PUBLIC_IP_FALLBACK", "198.51.100.4")
	ips, err := resolvePublicIPs(context.Background(), "ecs", "us-east-1", slog.Default())
	if err != nil || !reflect.DeepEqual(ips, []string{"198.51.100.4"}) {
		t.Fatalf("with a fallback: %v %v, want the fallback's address", ips, err)
	}
}

// Outside ECS there is no task metadata: the error says so.
func TestPublicIPOutsideECS(t *testing.T) {
	awsEnv(t, (&fakeEC2{}).start(t))
	t.Setenv("ECS_CONTAINER_METADATA_URI_V4", "")
	t.Setenv("SFU_PUBLIC_IP_FALLBACK", "")
	_, err := resolvePublicIPs(context.Background(), "ecs", "us-east-1", slog.Default())
	if err == nil || !strings.Contains(err.Error(), "not an ECS task") {
		t.Fatalf("outside ECS: %v", err)
	}
	// Other sources are untouched.
	ips, err := resolvePublicIPs(context.Background(), "192.0.2.1, 192.0.2.2", "us-east-1", slog.Default())
	if err != nil || !reflect.DeepEqual(ips, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Fatalf("literal IPs: %v %v", ips, err)
	}
}

// An interface whose public IP is not (yet) associated is asked again until
// the wait runs out; an association that shows up in time is used.
func TestPublicIPWaitsForTheAssociation(t *testing.T) {
	ec := &fakeEC2{public: map[string]string{taskMAC + " " + taskPrivateIP: ""}}
	url := ec.start(t)
	client := ec2.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(url),
	})
	meta := fakeMetadata(t, taskMAC, taskPrivateIP)

	_, err := ecsPublicIP(context.Background(), meta, client, 1200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no public IPv4 address") || ec.calls < 2 {
		t.Fatalf("never associated: %v after %d calls, want a clear error after retrying", err, ec.calls)
	}

	go func() {
		time.Sleep(300 * time.Millisecond)
		ec.mu.Lock()
		ec.public[taskMAC+" "+taskPrivateIP] = "203.0.113.9"
		ec.mu.Unlock()
	}()
	ip, err := ecsPublicIP(context.Background(), meta, client, 10*time.Second)
	if err != nil || ip != "203.0.113.9" {
		t.Fatalf("late association: %q %v", ip, err)
	}
}

// Task metadata without an awsvpc interface is an error, not a guess.
func TestPublicIPNeedsAnAwsvpcInterface(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"Networks":[{"NetworkMode":"bridge","IPv4Addresses":["172.17.0.2"]}]}`)
	}))
	defer srv.Close()
	ec := &fakeEC2{}
	client := ec2.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(ec.start(t)),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	if _, err := ecsPublicIP(context.Background(), srv.URL, client, time.Second); err == nil || !strings.Contains(err.Error(), "awsvpc") || ec.calls != 0 {
		t.Fatalf("bridge-mode metadata: %v (%d EC2 calls)", err, ec.calls)
	}
}
