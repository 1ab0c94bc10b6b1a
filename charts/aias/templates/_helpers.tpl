{{/*
Chart name, used for the app.kubernetes.io/name label.
*/}}
{{- define "aias.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Base name of every object. Release-independent on purpose: it defaults to "aias",
so objects are named aias-manager, aias-leader-election, aias-metrics-reader and
aias-manager-metrics (the same names config/default uses). Truncated so that
"<fullname>-leader-election" still fits in 63 characters.
*/}}
{{- define "aias.fullname" -}}
{{- default "aias" .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "aias.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels every object carries besides the selector labels.
*/}}
{{- define "aias.commonLabels" -}}
helm.sh/chart: {{ include "aias.chart" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aias
{{- end }}

{{/*
Labels of the manager's objects (and of the cluster-wide ones).
*/}}
{{- define "aias.labels" -}}
{{ include "aias.selectorLabels" . }}
{{ include "aias.commonLabels" . }}
{{- end }}

{{/*
Labels of the webhookserver's objects.
*/}}
{{- define "aias.webhookserverLabels" -}}
{{ include "aias.webhookserverSelectorLabels" . }}
{{ include "aias.commonLabels" . }}
{{- end }}

{{/*
Labels of objects shared by the manager and the webhookserver (the Secrets).
*/}}
{{- define "aias.sharedLabels" -}}
app.kubernetes.io/name: {{ include "aias.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{ include "aias.commonLabels" . }}
{{- end }}

{{/*
Selector labels of the manager pods (Deployment selector, metrics Service selector).
*/}}
{{- define "aias.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aias.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/*
Selector labels of the webhookserver pods (Deployment selector, Service selectors).
*/}}
{{- define "aias.webhookserverSelectorLabels" -}}
app.kubernetes.io/name: {{ include "aias.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhookserver
{{- end }}

{{/*
Name of the manager's ServiceAccount (also used for the Deployment and the manager ClusterRole).
*/}}
{{- define "aias.managerName" -}}
{{- include "aias.fullname" . }}-manager
{{- end }}

{{/*
Manager image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "aias.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
Name of the webhookserver's Deployment and ServiceAccount.
*/}}
{{- define "aias.webhookserverName" -}}
{{- include "aias.fullname" . }}-webhookserver
{{- end }}

{{/*
Name of the Service of the internal step API (aias-internal).
*/}}
{{- define "aias.internalServiceName" -}}
{{- include "aias.fullname" . }}-internal
{{- end }}

{{/*
Name of the Service of the public hook listener (aias-hooks).
*/}}
{{- define "aias.hooksServiceName" -}}
{{- include "aias.fullname" . }}-hooks
{{- end }}

{{/*
Base URL senders reach the hook listener at (the manager's --public-base-url): publicBaseURL,
else https://<hooks.ingress.host> when the Ingress is enabled with a host, else empty (status.url
stays a path).
*/}}
{{- define "aias.publicBaseURL" -}}
{{- $url := .Values.publicBaseURL | default "" | trimSuffix "/" }}
{{- if and (not $url) .Values.hooks.ingress.enabled .Values.hooks.ingress.host }}
{{- $url = printf "https://%s" .Values.hooks.ingress.host }}
{{- end }}
{{- if and $url (not (regexMatch "^https?://[^/?#]+(/[^?#]*)?$" $url)) }}
{{- fail (printf "publicBaseURL %q: want an absolute http(s) URL such as https://hooks.example.com" $url) }}
{{- end }}
{{- $url }}
{{- end }}

{{/*
Image whose step runtime /aias-step step pods run (--runner-image); defaults to the manager's image.
*/}}
{{- define "aias.runnerImage" -}}
{{- .Values.runnerImage | default (include "aias.image" .) }}
{{- end }}

{{/*
The internal step API as step pods reach it (--internal-api-url).
*/}}
{{- define "aias.internalAPIURL" -}}
{{- .Values.internalAPIURL | default (printf "http://%s.%s.svc:%d" (include "aias.internalServiceName" .) .Release.Namespace (.Values.webhookserver.internalPort | int)) }}
{{- end }}

{{/*
Secret and key holding the PostgreSQL URL: the chart's own Secret when database.url is set,
else database.existingSecret.
*/}}
{{- define "aias.databaseSecretName" -}}
{{- if .Values.database.url }}
{{- include "aias.fullname" . }}-database
{{- else }}
{{- required "set database.existingSecret (a Secret holding the PostgreSQL URL) or database.url" .Values.database.existingSecret }}
{{- end }}
{{- end }}

{{- define "aias.databaseSecretKey" -}}
{{- if .Values.database.url }}url{{ else }}{{ .Values.database.existingSecretKey | default "url" }}{{ end }}
{{- end }}

{{/*
Secret and key holding the step-token signing key: stepTokenKey.existingSecret, else the
Secret the chart generates.
*/}}
{{- define "aias.stepTokenKeySecretName" -}}
{{- .Values.stepTokenKey.existingSecret | default (printf "%s-step-token-key" (include "aias.fullname" .)) }}
{{- end }}

{{- define "aias.stepTokenKeySecretKey" -}}
{{- if .Values.stepTokenKey.existingSecret }}{{ .Values.stepTokenKey.existingSecretKey | default "key" }}{{ else }}key{{ end }}
{{- end }}

{{/*
Path of the mounted step-token key in both Deployments.
*/}}
{{- define "aias.stepTokenKeyFile" -}}
/etc/aias/step-token/key
{{- end }}

{{/*
Container env shared by the manager and the webhookserver: the database URL from its Secret.
*/}}
{{- define "aias.databaseEnv" -}}
- name: AIAS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "aias.databaseSecretName" . }}
      key: {{ include "aias.databaseSecretKey" . }}
{{- end }}

{{- define "aias.stepTokenKeyVolumeMount" -}}
- name: step-token-key
  mountPath: {{ include "aias.stepTokenKeyFile" . | dir }}
  readOnly: true
{{- end }}

{{- define "aias.stepTokenKeyVolume" -}}
- name: step-token-key
  secret:
    secretName: {{ include "aias.stepTokenKeySecretName" . }}
    defaultMode: 288 # 0440, group 65532 (fsGroup)
    items:
    - key: {{ include "aias.stepTokenKeySecretKey" . }}
      path: {{ include "aias.stepTokenKeyFile" . | base }}
{{- end }}

{{/*
Pod security context of both Deployments (restricted Pod Security Standard).
*/}}
{{- define "aias.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "aias.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
  - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Admission webhooks: the Service, the serving-certificate Secret and the Certificate's name.
*/}}
{{- define "aias.webhookServiceName" -}}
{{- include "aias.managerName" . }}-webhook
{{- end }}

{{- define "aias.webhookCertName" -}}
{{- include "aias.managerName" . }}-webhook-cert
{{- end }}

{{- define "aias.webhookCertSecretName" -}}
{{- .Values.admission.certSecret | default (include "aias.webhookCertName" .) }}
{{- end }}

{{- define "aias.webhookConfigName" -}}
{{- include "aias.fullname" . }}-validating-webhook
{{- end }}

{{/*
Where the admission webhooks' serving certificate comes from: certManager
(admission.certManager.enabled), secret (admission.caBundle with your own
admission.certSecret), else rotator (the manager generates, renews and injects it).
*/}}
{{- define "aias.admissionCertSource" -}}
{{- if .Values.admission.certManager.enabled }}certManager{{ else if .Values.admission.caBundle }}secret{{ else }}rotator{{ end }}
{{- end }}

{{/*
Path of the mounted Stripe webhook signing secret in the webhookserver.
*/}}
{{- define "aias.stripeSecretFile" -}}
/etc/aias/stripe/secret
{{- end }}

{{/*
Plan flags both Deployments pass (keep them equal).
*/}}
{{- define "aias.planArgs" -}}
- {{ printf "--default-plan=%s" (required "defaultPlan must name a Plan" .Values.defaultPlan) | quote }}
- {{ printf "--past-due-grace=%s" (toString .Values.pastDueGrace) | quote }}
{{- end }}

{{/*
The spec of a PodDisruptionBudget. Takes a dict: name (the values path, for messages), pdb
(its values: maxUnavailable, minAvailable), replicas, selector (the pod selector labels, YAML).
minAvailable wins when set; an integer minAvailable >= replicas and a maxUnavailable of 0 are
refused (they would block every voluntary eviction, so every node drain).
*/}}
{{- define "aias.pdbSpec" -}}
{{- $min := .pdb.minAvailable }}
{{- $max := .pdb.maxUnavailable }}
{{- if and (not (kindIs "invalid" $min)) (ne (toString $min) "") }}
{{- if and (not (kindIs "string" $min)) (gt (int $min) 0) (ge (int $min) (int .replicas)) }}
{{- fail (printf "%s.minAvailable %v: not below the replica count %v, the budget would block every node drain; lower it or use maxUnavailable" .name $min .replicas) }}
{{- end }}
minAvailable: {{ if kindIs "string" $min }}{{ $min | quote }}{{ else }}{{ $min | int }}{{ end }}
{{- else if and (not (kindIs "invalid" $max)) (ne (toString $max) "") }}
{{- if and (has (toString $max) (list "0" "0%")) (gt (int .replicas) 0) }}
{{- fail (printf "%s.maxUnavailable %v: the budget would block every node drain; use 1 or more" .name $max) }}
{{- end }}
maxUnavailable: {{ if kindIs "string" $max }}{{ $max | quote }}{{ else }}{{ $max | int }}{{ end }}
{{- else }}
{{- fail (printf "%s: set maxUnavailable or minAvailable, or enabled: false" .name) }}
{{- end }}
selector:
  matchLabels:
    {{- .selector | nindent 4 }}
{{- end }}

{{/*
topologySpreadConstraints with the pods' selector labels as labelSelector where a constraint
has none. Takes a dict: constraints (the values list), selector (the pod selector labels, YAML).
*/}}
{{- define "aias.topologySpreadConstraints" -}}
{{- $out := list }}
{{- range .constraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (fromYaml $.selector)) }}
{{- end }}
{{- $out = append $out $c }}
{{- end }}
{{- toYaml $out }}
{{- end }}
