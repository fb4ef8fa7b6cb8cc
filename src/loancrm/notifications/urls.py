from django.urls import path

from . import views

app_name = "notifications"
urlpatterns = [
    path("", views.notification_list, name="list"),
    path("bell/", views.bell, name="bell"),
    path("read-all/", views.notifications_read_all, name="read_all"),
    path("<int:notification_id>/", views.notification_open, name="open"),
    path("todos/<int:todo_id>/done/", views.todo_done, name="todo_done"),
    path("deliveries/", views.delivery_list, name="deliveries"),
    path("deliveries/<int:delivery_id>/retry/", views.delivery_retry, name="delivery_retry"),
]
