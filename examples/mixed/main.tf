# A mixed workspace: Kubernetes objects next to a resource that lives
# outside the cluster (here a file on the runner, standing in for a cloud
# bucket or a registry's robot account). The two halves do not reference
# each other, so a plan targeted at the Kubernetes addresses never refreshes
# the file (-target also plans what a target depends on).

resource "kubernetes_namespace" "mixed" {
  metadata {
    name = var.namespace
  }
}

resource "kubernetes_config_map" "app" {
  metadata {
    name      = "app-config"
    namespace = kubernetes_namespace.mixed.metadata[0].name
  }

  data = {
    LOG_LEVEL = var.log_level
  }
}

# The same settings, rendered for a tool that runs outside the cluster.
resource "local_file" "app_env" {
  filename        = "${var.files_dir}/${var.namespace}.env"
  content         = "LOG_LEVEL=${var.log_level}\n"
  file_permission = "0644"
}
