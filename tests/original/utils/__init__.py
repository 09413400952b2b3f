def custom_client_ip_function(request):
    return "192.168.2.1"
