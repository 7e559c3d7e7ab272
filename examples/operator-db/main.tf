# The seed's P0 case in miniature: an operator-managed Postgres cluster
# (a CloudNativePG Cluster) and its ScheduledBackup, managed by Terraform
# through kubectl_manifest, next to the namespace and the app user's Secret.
#
# The CRDs are not managed here: they belong to the operator's install (CNPG's
# Helm chart), which the test operator stands in for (see README.md). Once
# the operator runs, it defaults spec fields this configuration leaves out
# (imageName, storage.resizeInUseVolumes, more postgresql.parameters, ...)
# under its own field manager, cnpg-operator, and writes the status.

resource "kubectl_manifest" "namespace" {
  yaml_body = yamlencode({
    apiVersion = "v1"
    kind       = "Namespace"
    metadata   = { name = var.namespace }
  })
}

resource "kubectl_manifest" "app_secret" {
  sensitive_fields = ["data"]
  yaml_body = yamlencode({
    apiVersion = "v1"
    kind       = "Secret"
    type       = "kubernetes.io/basic-auth"
    metadata = {
      name      = "${var.cluster_name}-app"
      namespace = var.namespace
    }
    data = {
      username = base64encode("marketplace")
      password = base64encode(var.app_password)
    }
  })
  depends_on = [kubectl_manifest.namespace]
}

resource "kubectl_manifest" "cluster" {
  yaml_body = yamlencode({
    apiVersion = "postgresql.cnpg.io/v1"
    kind       = "Cluster"
    metadata = {
      name      = var.cluster_name
      namespace = var.namespace
      labels    = { "app.kubernetes.io/part-of" = "shop" }
    }
    spec = {
      instances = var.instances
      postgresql = {
        parameters = { max_connections = "200" }
      }
      storage = { size = "10Gi" }
      bootstrap = {
        initdb = {
          database = "marketplace"
          owner    = "marketplace"
          secret   = { name = "${var.cluster_name}-app" }
        }
      }
    }
  })
  depends_on = [kubectl_manifest.app_secret]
}

resource "kubectl_manifest" "scheduled_backup" {
  yaml_body = yamlencode({
    apiVersion = "postgresql.cnpg.io/v1"
    kind       = "ScheduledBackup"
    metadata = {
      name      = "${var.cluster_name}-nightly"
      namespace = var.namespace
    }
    spec = {
      schedule             = "0 0 2 * * *"
      cluster              = { name = var.cluster_name }
      backupOwnerReference = "self"
    }
  })
  depends_on = [kubectl_manifest.cluster]
}
