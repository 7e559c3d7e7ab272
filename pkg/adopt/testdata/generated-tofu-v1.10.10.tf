# __generated__ by OpenTofu
# Please review these resources and move them into your main configuration files.

# __generated__ by OpenTofu
resource "kubernetes_secret" "exp_app_token" {
  data = null # sensitive
  type = "Opaque"
  metadata {
    annotations   = {}
    generate_name = ""
    labels        = {}
    name          = "app-token"
    namespace     = "exp"
  }
}

# __generated__ by OpenTofu
resource "kubernetes_config_map" "exp_app_settings" {
  binary_data = {}
  data = {
    LEVEL = "3"
    MODE  = "blue"
  }
  metadata {
    annotations   = {}
    generate_name = ""
    labels        = {}
    name          = "app-settings"
    namespace     = "exp"
  }
}
