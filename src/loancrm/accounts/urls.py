from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("accounts/password/", views.password_change, name="password_change"),
    path("accounts/2fa/verify/", views.otp_verify, name="otp_verify"),
    path("accounts/2fa/enrol/", views.otp_enrol, name="otp_enrol"),
    path("accounts/2fa/remove/", views.otp_remove, name="otp_remove"),
    # Administration pages live under the 设置 section.
    path("settings/users/", views.user_list, name="user_list"),
    path("settings/users/new/", views.user_create, name="user_create"),
    path("settings/users/<int:user_id>/", views.user_edit, name="user_edit"),
    path("settings/users/<int:user_id>/<slug:action>/", views.user_action, name="user_action"),
    path("settings/departments/", views.department_list, name="department_list"),
    path("settings/departments/new/", views.department_form, name="department_create"),
    path("settings/departments/<int:department_id>/", views.department_form, name="department_edit"),
    path("settings/roles/", views.role_list, name="role_list"),
    path("settings/roles/<int:role_id>/", views.role_edit, name="role_edit"),
]
