{{- define "otlp-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "otlp-bridge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "otlp-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otlp-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "otlp-bridge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "otlp-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "otlp-bridge.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "otlp-bridge.ingestSecretName" -}}
{{- .Values.auth.ingest.existingSecret | default (printf "%s-ingest-token" (include "otlp-bridge.fullname" .)) }}
{{- end }}

{{- define "otlp-bridge.ingestSecretKey" -}}
{{- ternary .Values.auth.ingest.existingSecretKey "token" (ne .Values.auth.ingest.existingSecret "") }}
{{- end }}

{{- define "otlp-bridge.scrapeSecretName" -}}
{{- .Values.auth.scrape.existingSecret | default (printf "%s-scrape-token" (include "otlp-bridge.fullname" .)) }}
{{- end }}

{{- define "otlp-bridge.scrapeSecretKey" -}}
{{- ternary .Values.auth.scrape.existingSecretKey "token" (ne .Values.auth.scrape.existingSecret "") }}
{{- end }}

{{- define "otlp-bridge.ingestAuth" -}}
{{- if or .Values.auth.ingest.token .Values.auth.ingest.existingSecret }}true{{ end }}
{{- end }}

{{- define "otlp-bridge.scrapeAuth" -}}
{{- if or .Values.auth.scrape.token .Values.auth.scrape.existingSecret }}true{{ end }}
{{- end }}

{{/* Whether the bridge gets a config file: config values or remote-write targets. */}}
{{- define "otlp-bridge.hasConfig" -}}
{{- if or .Values.config .Values.remoteWrite }}true{{ end }}
{{- end }}

{{/* bridge.yaml: the config values, plus the remote-write targets as `remote_write` entries. */}}
{{- define "otlp-bridge.configFile" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- $targets := list }}
{{- range $index, $target := .Values.remoteWrite }}
{{- $entry := dict "url" $target.url }}
{{- with $target.headers }}{{ $_ := set $entry "headers" . }}{{ end }}
{{- with $target.timeout }}{{ $_ := set $entry "timeout" . }}{{ end }}
{{- with $target.queue }}{{ $_ := set $entry "queue" . }}{{ end }}
{{- if or $target.token $target.existingSecret }}
{{- $file := printf "/etc/otlp-bridge/remote-write/%d/secret" $index }}
{{- if $target.basicAuthUser }}
{{- $_ := set $entry "basic_auth_user" $target.basicAuthUser }}
{{- $_ := set $entry "basic_auth_password_file" $file }}
{{- else }}
{{- $_ := set $entry "bearer_token_file" $file }}
{{- end }}
{{- end }}
{{- with $target.tls }}
{{- $dir := printf "/etc/otlp-bridge/remote-write-tls/%d" $index }}
{{- if .caKey }}{{ $_ := set $entry "tls_ca_file" (printf "%s/ca.crt" $dir) }}{{ end }}
{{- if .certKey }}
{{- $_ := set $entry "tls_cert_file" (printf "%s/tls.crt" $dir) }}
{{- $_ := set $entry "tls_key_file" (printf "%s/tls.key" $dir) }}
{{- end }}
{{- end }}
{{- $targets = append $targets $entry }}
{{- end }}
{{- if $targets }}{{ $_ := set $config "remote_write" $targets }}{{ end }}
{{- toYaml $config }}
{{- end }}

{{- define "otlp-bridge.alertRelaySecretName" -}}
{{- .Values.alertRelay.existingSecret | default (printf "%s-alert-relay-token" (include "otlp-bridge.fullname" .)) }}
{{- end }}

{{- define "otlp-bridge.alertRelaySecretKey" -}}
{{- ternary .Values.alertRelay.existingSecretKey "token" (ne .Values.alertRelay.existingSecret "") }}
{{- end }}

{{- define "otlp-bridge.alertWebhookSecretName" -}}
{{- .Values.auth.alertWebhook.existingSecret | default (printf "%s-alert-webhook-token" (include "otlp-bridge.fullname" .)) }}
{{- end }}

{{- define "otlp-bridge.alertWebhookSecretKey" -}}
{{- ternary .Values.auth.alertWebhook.existingSecretKey "token" (ne .Values.auth.alertWebhook.existingSecret "") }}
{{- end }}

{{- define "otlp-bridge.alertWebhookAuth" -}}
{{- if or .Values.auth.alertWebhook.token .Values.auth.alertWebhook.existingSecret }}true{{ end }}
{{- end }}

{{- define "otlp-bridge.scheme" -}}
{{- ternary "HTTPS" "HTTP" (ne .Values.tls.existingSecret "") }}
{{- end }}

{{/* Fail early on values that cannot work. */}}
{{- define "otlp-bridge.validate" -}}
{{- if not (has .Values.mode (list "standalone" "sidecar")) }}
{{- fail (printf "mode must be standalone or sidecar, not %q" .Values.mode) }}
{{- end }}
{{- range $key := list "otlp_listen" "metrics_listen" "ingest_token_file" "scrape_token_file" "tls_cert_file" "tls_key_file" "alert_relay_url" "alert_relay_token_file" "alert_webhook_token_file" }}
{{- if hasKey ($.Values.config | default dict) $key }}
{{- fail (printf "config.%s is set by the chart; use ports/auth/tls/alertRelay values instead" $key) }}
{{- end }}
{{- end }}
{{- range $key := list "remote_write_url" "remote_write_bearer_token_file" "remote_write_basic_auth_user" "remote_write_basic_auth_password_file" "remote_write_header" "remote_write_timeout" "remote_write_tls_ca_file" "remote_write_tls_cert_file" "remote_write_tls_key_file" }}
{{- if hasKey ($.Values.config | default dict) $key }}
{{- fail (printf "config.%s: give remote-write targets in remoteWrite (url, headers, token or existingSecret, ...)" $key) }}
{{- end }}
{{- end }}
{{- range $index, $target := .Values.remoteWrite }}
{{- if not $target.url }}
{{- fail (printf "remoteWrite[%d]: url is required" $index) }}
{{- end }}
{{- if and $target.token $target.existingSecret }}
{{- fail (printf "remoteWrite[%d]: give either token or existingSecret, not both" $index) }}
{{- end }}
{{- if and $target.basicAuthUser (not (or $target.token $target.existingSecret)) }}
{{- fail (printf "remoteWrite[%d]: basicAuthUser needs the password as token or existingSecret" $index) }}
{{- end }}
{{- with $target.tls }}
{{- if not .existingSecret }}
{{- fail (printf "remoteWrite[%d].tls: existingSecret (the Secret holding the CA and/or client certificate) is required" $index) }}
{{- end }}
{{- if ne (empty .certKey) (empty .keyKey) }}
{{- fail (printf "remoteWrite[%d].tls: give certKey and keyKey together (mutual TLS) or neither" $index) }}
{{- end }}
{{- if and (empty .caKey) (empty .certKey) }}
{{- fail (printf "remoteWrite[%d].tls: name caKey, certKey/keyKey or both" $index) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.auth.ingest.token .Values.auth.ingest.existingSecret }}
{{- fail "auth.ingest: give either token or existingSecret, not both" }}
{{- end }}
{{- if and .Values.auth.scrape.token .Values.auth.scrape.existingSecret }}
{{- fail "auth.scrape: give either token or existingSecret, not both" }}
{{- end }}
{{- with .Values.alertRelay }}
{{- if and .token .existingSecret }}
{{- fail "alertRelay: give either token or existingSecret, not both" }}
{{- end }}
{{- if and .url (not (or .token .existingSecret)) }}
{{- fail "alertRelay.url needs OpenClaw's hooks token: alertRelay.token or alertRelay.existingSecret" }}
{{- end }}
{{- end }}
{{- if and .Values.auth.alertWebhook.token .Values.auth.alertWebhook.existingSecret }}
{{- fail "auth.alertWebhook: give either token or existingSecret, not both" }}
{{- end }}
{{- if and (include "otlp-bridge.alertWebhookAuth" .) (not .Values.alertRelay.url) }}
{{- fail "auth.alertWebhook is the token of the alert relay's endpoint: set alertRelay.url too" }}
{{- end }}
{{- if eq .Values.mode "standalone" }}
{{- if and (gt (int .Values.replicaCount) 1) (ne .Values.service.sessionAffinity "ClientIP") }}
{{- fail "replicaCount > 1 needs service.sessionAffinity=ClientIP: otherwise one gateway's pushes are spread over replicas (see docs/deploy.md)" }}
{{- end }}
{{- if .Values.podMonitor.enabled }}
{{- fail "podMonitor is for mode=sidecar; use serviceMonitor in mode=standalone" }}
{{- end }}
{{- with .Values.podDisruptionBudget }}
{{- if and .enabled (kindIs "invalid" .minAvailable) (kindIs "invalid" .maxUnavailable) }}
{{- fail "podDisruptionBudget: give minAvailable or maxUnavailable" }}
{{- end }}
{{- end }}
{{- else }}
{{- if .Values.serviceMonitor.enabled }}
{{- fail "serviceMonitor needs the Service of mode=standalone; use podMonitor in mode=sidecar" }}
{{- end }}
{{- if and .Values.podMonitor.enabled (empty .Values.podMonitor.podSelector) }}
{{- fail "podMonitor.podSelector must select the OpenClaw pods that carry the sidecar" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The bridge container. Called with (dict "root" $ "sidecar" bool).
standalone: OTLP on 0.0.0.0; sidecar: OTLP on 127.0.0.1 (only the OpenClaw container in the pod can push).
*/}}
{{- define "otlp-bridge.container" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $otlpHost := ternary "127.0.0.1" "0.0.0.0" .sidecar }}
{{- $metricsPortName := ternary $v.sidecar.metricsPortName "metrics" .sidecar }}
name: otlp-bridge
image: {{ include "otlp-bridge.image" $root }}
imagePullPolicy: {{ $v.image.pullPolicy }}
command: ["otlp-bridge"]
args:
  - --otlp-listen
  - {{ printf "%s:%d" $otlpHost (int $v.ports.otlp) | quote }}
  - --metrics-listen
  - {{ printf "0.0.0.0:%d" (int $v.ports.metrics) | quote }}
  {{- if include "otlp-bridge.hasConfig" $root }}
  - --config
  - /etc/otlp-bridge/config/bridge.yaml
  {{- end }}
  {{- if include "otlp-bridge.ingestAuth" $root }}
  - --ingest-token-file
  - /etc/otlp-bridge/ingest-token/token
  {{- with $v.auth.ingest.header }}
  - --ingest-token-header
  - {{ . | quote }}
  {{- end }}
  {{- end }}
  {{- if include "otlp-bridge.scrapeAuth" $root }}
  - --scrape-token-file
  - /etc/otlp-bridge/scrape-token/token
  {{- end }}
  {{- if $v.tls.existingSecret }}
  - --tls-cert-file
  - /etc/otlp-bridge/tls/tls.crt
  - --tls-key-file
  - /etc/otlp-bridge/tls/tls.key
  {{- end }}
  {{- if $v.alertRelay.url }}
  - --alert-relay-url
  - {{ $v.alertRelay.url | quote }}
  - --alert-relay-token-file
  - /etc/otlp-bridge/alert-relay-token/token
  {{- if include "otlp-bridge.alertWebhookAuth" $root }}
  - --alert-webhook-token-file
  - /etc/otlp-bridge/alert-webhook-token/token
  {{- end }}
  {{- end }}
  {{- range $v.extraArgs }}
  - {{ . | quote }}
  {{- end }}
{{- with $v.extraEnv }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
ports:
  {{- if not .sidecar }}
  - name: otlp-http
    containerPort: {{ $v.ports.otlp }}
    protocol: TCP
  {{- end }}
  - name: {{ $metricsPortName }}
    containerPort: {{ $v.ports.metrics }}
    protocol: TCP
livenessProbe:
  {{- $liveness := deepCopy $v.livenessProbe }}
  {{- $_ := set $liveness.httpGet "port" $metricsPortName }}
  {{- $_ := set $liveness.httpGet "scheme" (include "otlp-bridge.scheme" $root) }}
  {{- toYaml $liveness | nindent 2 }}
{{- if not .sidecar }}
{{- /* A sidecar's readiness would gate the OpenClaw pod's: the bridge is not in its request path (docs/deploy.md). */}}
readinessProbe:
  {{- $readiness := deepCopy $v.readinessProbe }}
  {{- $_ := set $readiness.httpGet "port" $metricsPortName }}
  {{- $_ := set $readiness.httpGet "scheme" (include "otlp-bridge.scheme" $root) }}
  {{- toYaml $readiness | nindent 2 }}
{{- end }}
{{- with $v.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.securityContext | nindent 2 }}
volumeMounts:
  - name: otlp-bridge-tmp
    mountPath: /tmp
  {{- if include "otlp-bridge.hasConfig" $root }}
  - name: otlp-bridge-config
    mountPath: /etc/otlp-bridge/config
    readOnly: true
  {{- end }}
  {{- range $index, $target := $v.remoteWrite }}
  {{- if or $target.token $target.existingSecret }}
  - name: {{ printf "otlp-bridge-remote-write-%d" $index }}
    mountPath: {{ printf "/etc/otlp-bridge/remote-write/%d" $index }}
    readOnly: true
  {{- end }}
  {{- if $target.tls }}
  - name: {{ printf "otlp-bridge-remote-write-tls-%d" $index }}
    mountPath: {{ printf "/etc/otlp-bridge/remote-write-tls/%d" $index }}
    readOnly: true
  {{- end }}
  {{- end }}
  {{- if include "otlp-bridge.ingestAuth" $root }}
  - name: otlp-bridge-ingest-token
    mountPath: /etc/otlp-bridge/ingest-token
    readOnly: true
  {{- end }}
  {{- if include "otlp-bridge.scrapeAuth" $root }}
  - name: otlp-bridge-scrape-token
    mountPath: /etc/otlp-bridge/scrape-token
    readOnly: true
  {{- end }}
  {{- if $v.tls.existingSecret }}
  - name: otlp-bridge-tls
    mountPath: /etc/otlp-bridge/tls
    readOnly: true
  {{- end }}
  {{- if $v.alertRelay.url }}
  - name: otlp-bridge-alert-relay-token
    mountPath: /etc/otlp-bridge/alert-relay-token
    readOnly: true
  {{- if include "otlp-bridge.alertWebhookAuth" $root }}
  - name: otlp-bridge-alert-webhook-token
    mountPath: /etc/otlp-bridge/alert-webhook-token
    readOnly: true
  {{- end }}
  {{- end }}
{{- end }}

{{/* Volumes used by the container. Called with (dict "root" $ "sidecar" bool). */}}
{{- define "otlp-bridge.volumes" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $mode := ternary $v.sidecar.secretFileMode $v.secretFileMode .sidecar }}
- name: otlp-bridge-tmp
  emptyDir:
    sizeLimit: 16Mi
{{- if include "otlp-bridge.hasConfig" $root }}
- name: otlp-bridge-config
  configMap:
    name: {{ include "otlp-bridge.fullname" $root }}-config
{{- end }}
{{- range $index, $target := $v.remoteWrite }}
{{- if or $target.token $target.existingSecret }}
- name: {{ printf "otlp-bridge-remote-write-%d" $index }}
  secret:
    secretName: {{ $target.existingSecret | default (printf "%s-remote-write" (include "otlp-bridge.fullname" $root)) }}
    defaultMode: {{ $mode }}
    items:
      - key: {{ ternary ($target.existingSecretKey | default "token") (printf "target-%d" $index) (not (empty $target.existingSecret)) }}
        path: secret
{{- end }}
{{- with $target.tls }}
- name: {{ printf "otlp-bridge-remote-write-tls-%d" $index }}
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: {{ $mode }}
    items:
      {{- if .caKey }}
      - key: {{ .caKey }}
        path: ca.crt
      {{- end }}
      {{- if .certKey }}
      - key: {{ .certKey }}
        path: tls.crt
      - key: {{ .keyKey }}
        path: tls.key
      {{- end }}
{{- end }}
{{- end }}
{{- if include "otlp-bridge.ingestAuth" $root }}
- name: otlp-bridge-ingest-token
  secret:
    secretName: {{ include "otlp-bridge.ingestSecretName" $root }}
    defaultMode: {{ $mode }}
    items:
      - key: {{ include "otlp-bridge.ingestSecretKey" $root }}
        path: token
{{- end }}
{{- if include "otlp-bridge.scrapeAuth" $root }}
- name: otlp-bridge-scrape-token
  secret:
    secretName: {{ include "otlp-bridge.scrapeSecretName" $root }}
    defaultMode: {{ $mode }}
    items:
      - key: {{ include "otlp-bridge.scrapeSecretKey" $root }}
        path: token
{{- end }}
{{- if $v.tls.existingSecret }}
- name: otlp-bridge-tls
  secret:
    secretName: {{ $v.tls.existingSecret }}
    defaultMode: {{ $mode }}
{{- end }}
{{- if $v.alertRelay.url }}
- name: otlp-bridge-alert-relay-token
  secret:
    secretName: {{ include "otlp-bridge.alertRelaySecretName" $root }}
    defaultMode: {{ $mode }}
    items:
      - key: {{ include "otlp-bridge.alertRelaySecretKey" $root }}
        path: token
{{- if include "otlp-bridge.alertWebhookAuth" $root }}
- name: otlp-bridge-alert-webhook-token
  secret:
    secretName: {{ include "otlp-bridge.alertWebhookSecretName" $root }}
    defaultMode: {{ $mode }}
    items:
      - key: {{ include "otlp-bridge.alertWebhookSecretKey" $root }}
        path: token
{{- end }}
{{- end }}
{{- end }}

{{/*
The sidecar container snippet, for pasting into (or including from) an OpenClaw pod spec:
  {{ include "otlp-bridge.sidecarContainer" . | nindent 8 }}
Its volumes: include "otlp-bridge.sidecarVolumes".
*/}}
{{- define "otlp-bridge.sidecarContainer" -}}
{{- include "otlp-bridge.container" (dict "root" . "sidecar" true) }}
{{- end }}

{{- define "otlp-bridge.sidecarVolumes" -}}
{{- include "otlp-bridge.volumes" (dict "root" . "sidecar" true) }}
{{- end }}

{{/* Endpoint fields shared by the ServiceMonitor and the PodMonitor. Called with (dict "root" $ "cfg" map). */}}
{{- define "otlp-bridge.scrapeEndpoint" -}}
{{- $root := .root }}
path: /metrics
interval: {{ .cfg.interval }}
scrapeTimeout: {{ .cfg.scrapeTimeout }}
scheme: {{ include "otlp-bridge.scheme" $root | lower }}
{{- if $root.Values.tls.existingSecret }}
tlsConfig:
  # The bridge's certificate is usually issued for its Service name, not the pod IP being scraped.
  insecureSkipVerify: true
{{- end }}
{{- if include "otlp-bridge.scrapeAuth" $root }}
authorization:
  type: Bearer
  credentials:
    name: {{ include "otlp-bridge.scrapeSecretName" $root }}
    key: {{ include "otlp-bridge.scrapeSecretKey" $root }}
{{- end }}
relabelings:
  - action: replace
    targetLabel: job
    replacement: {{ $root.Values.scrapeJobName }}
  {{- with .cfg.relabelings }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .cfg.metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
