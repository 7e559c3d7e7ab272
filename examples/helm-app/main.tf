# A Helm release from the chart next to this file: a Deployment, a Service,
# a ConfigMap, a Secret and an Ingress, installed and upgraded by hashicorp/helm
# 1.3.2. Helm marks each object with the meta.helm.sh/release-name and
# release-namespace annotations and the app.kubernetes.io/managed-by: Helm
# label; driftgate attributes the objects to helm_release.web through them.
#
# The release does not wait for its Deployment to become ready: the lab runs
# no kubelet.

resource "kubernetes_namespace" "app" {
  metadata {
    name = var.namespace
  }
}

resource "helm_release" "web" {
  name      = var.release_name
  namespace = kubernetes_namespace.app.metadata[0].name
  chart     = "${path.module}/chart"
  wait      = false

  set {
    name  = "greeting"
    value = var.greeting
  }

  set {
    name  = "replicaCount"
    value = var.replicas
  }

  set {
    name  = "ingress.enabled"
    value = var.ingress
  }

  set_sensitive {
    name  = "apiToken"
    value = var.api_token
  }
}
