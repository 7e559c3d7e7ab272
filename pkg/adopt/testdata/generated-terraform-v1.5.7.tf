# __generated__ by Terraform
# Please review these resources and move them into your main configuration files.

# __generated__ by Terraform from "exp/app-token"
resource "kubernetes_secret" "exp_app_token" {
  data = null # sensitive
  type = "Opaque"
  metadata {
    annotations   = {}
    generate_name = null
    labels        = {}
    name          = "app-token"
    namespace     = "exp"
  }
}

# __generated__ by Terraform from "exp/app-settings"
resource "kubernetes_config_map" "exp_app_settings" {
  binary_data = {}
  data = {
    LEVEL = "3"
    MODE  = "blue"
  }
  metadata {
    annotations   = {}
    generate_name = null
    labels        = {}
    name          = "app-settings"
    namespace     = "exp"
  }
}
